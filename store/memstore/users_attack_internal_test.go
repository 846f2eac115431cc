package memstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// A user who once had many sessions and is down to a few again holds a
// slice again, not the set (a Go map keeps its buckets however many entries
// it lost: a user who had thousands of sessions and kept one would hold
// their memory while logged in), and a slice that shrank lets its spare
// backing array go.
func TestUserIndexShrinksBack(t *testing.T) {
	var u userIndex
	u.reset()
	const n = 5000
	for i := range n {
		u.add("ann", fmt.Sprint(i))
	}
	if u.m["ann"].many == nil {
		t.Fatalf("%d ids not in a set", n)
	}
	for i := range n - 2 {
		u.remove("ann", fmt.Sprint(i))
	}
	ids := u.m["ann"]
	if ids.many != nil {
		t.Fatalf("two ids left, still in a set of %d", len(ids.many))
	}
	if len(ids.few) != 2 || cap(ids.few) > fewIDs/2 {
		t.Fatalf("two ids left: few = %v in a backing array of %d", ids.few, cap(ids.few))
	}
	// The last one is a string in u.one, with no slice at all.
	u.remove("ann", fmt.Sprint(n-2))
	if _, ok := u.m["ann"]; ok || u.one["ann"] != fmt.Sprint(n-1) {
		t.Fatalf("one id left: m has ann = %v, one has %q; want only one[ann] = %d", ok, u.one["ann"], n-1)
	}

	// A slice that filled up and emptied to two ids keeps no room for 16.
	for i := range fewIDs {
		u.add("bob", fmt.Sprint(i))
	}
	for i := range fewIDs - 2 {
		u.remove("bob", fmt.Sprint(i))
	}
	if c := cap(u.m["bob"].few); c > fewIDs/2 {
		t.Errorf("two ids kept in a backing array of %d", c)
	}
}

// Ids removed from a slice do not stay reachable past its length (the
// string of a logged-out session's id kept alive by the index).
func TestUserIndexNoStaleIDsPastLen(t *testing.T) {
	var u userIndex
	u.reset()
	for i := range fewIDs {
		u.add("ann", fmt.Sprint(i))
	}
	for i := range fewIDs / 2 {
		u.remove("ann", fmt.Sprint(i))
	}
	few := u.m["ann"].few
	for i, id := range few[len(few):cap(few)] {
		if id != "" {
			t.Errorf("backing array keeps %q at %d past len %d", id, len(few)+i, len(few))
		}
	}
}

// Crossing fewIDs back and forth at the boundary neither loses nor
// duplicates an id.
func TestUserIndexBoundaryFlapping(t *testing.T) {
	var u userIndex
	u.reset()
	model := map[string]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 20000 {
		id := fmt.Sprint(r.IntN(3 * fewIDs))
		if r.IntN(2) == 0 {
			u.add("ann", id)
			model[id] = true
		} else {
			u.remove("ann", id)
			delete(model, id)
		}
		if err := sameIDs(u.ids("ann"), model); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
}

// Many writers create, move between two users, touch and delete sessions
// of the same two users (each crossing fewIDs both ways many times) while
// others list and delete the users. UserSessions never lists a session
// twice or under another user, and once the writers stop the index names
// exactly the records of each user.
func TestUserIndexConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := New()
	t.Cleanup(func() { s.Close() })
	users := []string{"ann", "bob"}
	now := time.Now()
	const writers, ops, idsPerWriter = 4, 1500, 12
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range ops {
				id := fmt.Sprintf("%02d-%02d", w, r.IntN(idsPerWriter))
				user := users[r.IntN(2)]
				switch r.IntN(4) {
				case 0:
					c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: user, SetUserID: true}
					s.Commit(ctx, id, c)
				case 1:
					c := store.Change{Mode: store.Update, LastSeen: now, Expires: now.Add(time.Hour), UserID: user, SetUserID: true}
					s.Commit(ctx, id, c)
				case 2:
					s.Touch(ctx, id, now, now.Add(2*time.Hour))
				case 3:
					s.Delete(ctx, id)
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for i := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, user := range users {
					infos, err := s.UserSessions(ctx, user)
					if err != nil {
						t.Error(err)
						return
					}
					seen := map[string]bool{}
					for _, in := range infos {
						if seen[in.ID] || in.UserID != user {
							t.Errorf("UserSessions(%s) lists %s twice or under %q", user, in.ID, in.UserID)
						}
						seen[in.ID] = true
					}
				}
				if i == 1 {
					s.DeleteUser(ctx, users[0])
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	// The index and the shards agree exactly.
	want := map[string]map[string]bool{}
	for i := range s.shards {
		for id, e := range s.shards[i].m {
			if e.rec.UserID != "" {
				if want[e.rec.UserID] == nil {
					want[e.rec.UserID] = map[string]bool{}
				}
				want[e.rec.UserID][id] = true
			}
		}
	}
	for user := range s.users.m {
		if want[user] == nil {
			t.Errorf("index keeps %s with ids %v and no records", user, s.users.ids(user))
		}
	}
	for user, ids := range want {
		if err := sameIDs(s.users.ids(user), ids); err != nil {
			t.Errorf("index of %s against the shards: %v", user, err)
		}
	}
}

// Rotations as the session package does them (Create the new record, then
// Move the old one to it) of a user's 20 devices, while a reader lists the
// user and the user's entry crosses fewIDs both ways (20 devices, up to 40
// records mid-rotation): no listing names a record twice or shows a device
// more than twice (old and new mid-rotation), and at the end the index
// names each device's last record once.
//
// UserSessions reads the index, then each record: a record moved between
// the two is followed to its successor, which the read did not see
// (TestUserSessionsFollowsRotations). A lister descheduled while a device
// rotates more than maxChainHops times still misses it, as the store
// contract allows; this test does not count devices for that reason.
func TestUserSessionsDuringRotations(t *testing.T) {
	ctx := context.Background()
	s := New()
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	const devices, rounds = 20, 60
	device := map[string]int{} // record id → device, written before the record
	var mu sync.Mutex
	create := func(dev, gen int) string {
		id := fmt.Sprintf("d%02d-g%03d", dev, gen)
		mu.Lock()
		device[id] = dev
		mu.Unlock()
		createFor(t, s, id, "ann", now)
		return id
	}
	cur := make([]string, devices)
	for d := range devices {
		cur[d] = create(d, 0)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			infos, err := s.UserSessions(ctx, "ann")
			if err != nil {
				t.Error(err)
				return
			}
			seen := map[int]int{}
			ids := map[string]bool{}
			mu.Lock()
			for _, in := range infos {
				if ids[in.ID] {
					t.Errorf("%s listed twice", in.ID)
				}
				ids[in.ID] = true
				if seen[device[in.ID]]++; seen[device[in.ID]] > 2 {
					t.Errorf("device %d listed %d times", device[in.ID], seen[device[in.ID]])
				}
			}
			mu.Unlock()
		}
	}()
	for gen := 1; gen <= rounds; gen++ {
		for d := range devices {
			next := create(d, gen)
			if err := s.Move(ctx, cur[d], store.Moved{To: next}, now.Add(time.Minute), 0); err != nil {
				t.Fatal(err)
			}
			cur[d] = next
		}
	}
	close(stop)
	wg.Wait()
	got := s.users.ids("ann")
	slices.Sort(got)
	want := slices.Sorted(slices.Values(cur))
	if !slices.Equal(got, want) {
		t.Errorf("index after the rotations = %v, want %v", got, want)
	}
	if n, err := s.DeleteUser(ctx, "ann"); n != devices || err != nil {
		t.Errorf("DeleteUser = %d, %v; want %d", n, err, devices)
	}
}

// sameIDs reports how got differs from want as a set: a duplicate, an id
// not in want, or one missing.
func sameIDs(got []string, want map[string]bool) error {
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] || !want[id] {
			return fmt.Errorf("ids %v: %q duplicated or not expected", got, id)
		}
		seen[id] = true
	}
	if len(seen) != len(want) {
		return fmt.Errorf("%d ids, want %d", len(seen), len(want))
	}
	return nil
}

// A device that rotates twice between UserSessions' read of the index and
// its read of the records is listed under the record it lives in now, once;
// the device the rotations left alone is listed too.
func TestUserSessionsFollowsRotations(t *testing.T) {
	ctx := context.Background()
	s := New()
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	create := func(id string) {
		createFor(t, s, id, "ann", now)
	}
	rotate := func(from, to string) {
		create(to)
		if err := s.Move(ctx, from, store.Moved{To: to}, now.Add(time.Minute), 0); err != nil {
			t.Fatal(err)
		}
	}
	create("phone-1")
	create("laptop")
	s.afterIDs = func() {
		s.afterIDs = nil
		rotate("phone-1", "phone-2")
		rotate("phone-2", "phone-3")
	}
	infos, err := s.UserSessions(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, in.ID)
	}
	if err := sameIDs(got, map[string]bool{"phone-3": true, "laptop": true}); err != nil {
		t.Error(err)
	}
}

// createFor creates id as a record of user, live for an hour from now, as a
// login or a rotation does. It reports a failure with t.Error, so devices
// running in goroutines may call it.
func createFor(t testing.TB, s *Store, id, user string, now time.Time) {
	t.Helper()
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: user, SetUserID: true}
	if _, err := s.Commit(context.Background(), id, c); err != nil {
		t.Errorf("Create %s: %v", id, err)
	}
}
