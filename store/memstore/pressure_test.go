package memstore_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

// Issue 13.2: one 9 MiB session in a store sized for a thousand 11 KiB ones
// evicted 793 of them. The per-record limit refuses it and evicts no one.
func TestOversizedSessionEvictsNoOne(t *testing.T) {
	s := newStore(t, memstore.WithMaxBytes(12<<20))
	now := time.Now()
	value := make([]byte, 11<<10)
	for i := range 1000 {
		create(t, s, id(i), now.Add(time.Hour), map[string][]byte{"v": value})
	}
	c := store.Change{Mode: store.Create, LastSeen: now, Expires: now.Add(2 * time.Hour), Set: map[string][]byte{"v": make([]byte, 9<<20)}}
	_, err := s.Commit(ctx, id(1000), c)
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Limit != memstore.DefaultMaxRecordSize {
		t.Errorf("Create of a 9 MiB session: %v, want a *store.TooLargeError with the 1 MiB record limit", err)
	}
	evicted := 0
	for i := range 1000 {
		if rec, _ := s.Load(ctx, id(i)); rec == nil {
			evicted++
		}
	}
	if evicted > 0 {
		t.Errorf("a refused 9 MiB session evicted %d of 1000 sessions", evicted)
	}
}

// A session grows past the limit one update at a time: the update that
// crosses it is refused, and the record keeps what it had.
func TestRecordLimitOption(t *testing.T) {
	const limit = 1000
	s := newStore(t, memstore.WithMaxRecordSize(limit))
	now := time.Now()
	create(t, s, id(1), now.Add(time.Hour), nil)
	for i := 0; ; i++ {
		c := store.Change{Mode: store.Update, Set: map[string][]byte{fmt.Sprint(i): make([]byte, 99)}}
		_, err := s.Commit(ctx, id(1), c)
		if i < 10 { // ten keys of one byte and values of 99: exactly the limit
			if err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
			continue
		}
		var tl *store.TooLargeError
		if !errors.As(err, &tl) || tl.Limit != limit || tl.Size != limit+101 {
			t.Errorf("update over the limit: %v, want a *store.TooLargeError of 1101 bytes, limit 1000", err)
		}
		break
	}
	if rec, _ := s.Load(ctx, id(1)); rec == nil || rec.Values.Len() != 10 || rec.Size() != limit {
		t.Errorf("record after a refused update: %+v", rec)
	}
}

// pressure is a store with room for max records and a clock, where the
// tests create sessions of users and anonymous ones.
type pressure struct {
	t     *testing.T
	s     *memstore.Store
	clock *storetest.Clock
	next  int
}

func newPressure(t *testing.T, max int) *pressure {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	// No sweep: these tests count what eviction removes, and their clock
	// jumps past the default cleanup interval.
	return &pressure{t: t, clock: clock, s: newStore(t, memstore.WithMaxEntries(max), memstore.WithClock(clock.Now), memstore.WithCleanupInterval(24*time.Hour))}
}

// session creates a session of user ("" for an anonymous one), last seen
// idle ago, expiring 30 minutes after that, and returns its ID.
func (p *pressure) session(user string, idle time.Duration) string {
	p.t.Helper()
	p.next++
	sid := id(p.next)
	now := p.clock.Now()
	c := store.Change{Mode: store.Create, Created: now.Add(-idle), LastSeen: now.Add(-idle), Expires: now.Add(30*time.Minute - idle), UserID: user, SetUserID: true}
	if _, err := p.s.Commit(ctx, sid, c); err != nil {
		p.t.Fatalf("Create: %v", err)
	}
	return sid
}

func (p *pressure) alive(sid string) bool {
	rec, err := p.s.Load(ctx, sid)
	if err != nil {
		p.t.Fatal(err)
	}
	return rec != nil
}

// wantIndexed checks that the user index lists exactly the user's sessions
// that are alive.
func (p *pressure) wantIndexed(user string, sids ...string) {
	p.t.Helper()
	infos, err := p.s.UserSessions(ctx, user)
	if err != nil {
		p.t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, in := range infos {
		listed[in.ID] = true
	}
	for _, sid := range sids {
		if p.alive(sid) != listed[sid] {
			p.t.Errorf("user %s: session %.8s… alive %v, listed %v", user, sid, p.alive(sid), listed[sid])
		}
		delete(listed, sid)
	}
	for sid := range listed {
		p.t.Errorf("user %s: index lists %.8s…, not one of the user's sessions", user, sid)
	}
}

// Issue 13.6: 100 logged-in users (half of them idle) and 200k anonymous
// sessions against room for 100k. Before, every user was evicted before the
// first anonymous session; now every user survives, and the index lists them.
func TestAnonymousFloodSparesUsers(t *testing.T) {
	max, flood := 100_000, 200_000
	if testing.Short() {
		max, flood = 10_000, 20_000
	}
	p := newPressure(t, max)
	users := map[string]string{}
	for i := range 100 {
		idle := time.Duration(0)
		if i%2 == 1 {
			idle = 25 * time.Minute
		}
		u := fmt.Sprintf("user-%d", i)
		users[u] = p.session(u, idle)
	}
	// The flood comes from several clients at once, while the active users
	// keep working.
	const clients = 4
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			now := p.clock.Now()
			for i := c; i < flood; i += clients {
				sid := fmt.Sprintf("%064x", 1<<40+i)
				ch := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(30*time.Minute + time.Duration(i)*time.Millisecond)}
				if _, err := p.s.Commit(ctx, sid, ch); err != nil {
					t.Errorf("anonymous Create: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for n := 0; n < 20; n++ {
			for i := 0; i < 100; i += 2 {
				ch := store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte(fmt.Sprint(n))}}
				if _, err := p.s.Commit(ctx, users[fmt.Sprintf("user-%d", i)], ch); err != nil {
					t.Errorf("user's Update: %v", err)
					return
				}
			}
		}
	})
	wg.Wait()
	lost := 0
	for u, sid := range users {
		if !p.alive(sid) {
			lost++
		}
		p.wantIndexed(u, sid)
	}
	if lost > 0 {
		t.Errorf("an anonymous flood evicted %d of 100 logged-in users", lost)
	}
	if n := p.s.Len(); n != max {
		t.Errorf("Len = %d, want %d", n, max)
	}
	// The anonymous sessions kept are those last active.
	for i := flood - max/2; i < flood; i++ {
		if !p.alive(fmt.Sprintf("%064x", 1<<40+i)) {
			t.Fatalf("anonymous session %d of %d evicted while older ones were kept", i, flood)
		}
	}
}

// When users alone overflow the store, idle ones go first: active users
// survive, and so does every new login.
func TestUsersOverflowIdleFirst(t *testing.T) {
	p := newPressure(t, 100)
	var active, idle []string
	for i := range 100 {
		sid := p.session(fmt.Sprintf("user-%d", i), 0)
		if i%2 == 0 {
			active = append(active, sid)
		} else {
			idle = append(idle, sid)
		}
	}
	p.clock.Advance(20 * time.Minute)
	now := p.clock.Now()
	for _, sid := range active {
		if err := p.s.Touch(ctx, sid, now, now.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var logins []string
	for i := range 20 {
		logins = append(logins, p.session(fmt.Sprintf("new-%d", i), 0))
	}
	for i, sid := range active {
		if !p.alive(sid) {
			t.Errorf("active user %d evicted while idle ones were there", i)
		}
	}
	for i, sid := range logins {
		if !p.alive(sid) {
			t.Errorf("new login %d evicted", i)
		}
	}
	evicted := 0
	for i, sid := range idle {
		if !p.alive(sid) {
			evicted++
		}
		p.wantIndexed(fmt.Sprintf("user-%d", 2*i+1), sid)
	}
	if evicted != 20 {
		t.Errorf("%d idle users evicted, want 20", evicted)
	}
}

// An anonymous write never evicts a user's live session, even when users
// fill the store: it stays over its bound by that one anonymous record, which
// the next anonymous write or user's write evicts first.
func TestAnonymousNeverEvictsUsers(t *testing.T) {
	p := newPressure(t, 10)
	var users []string
	for i := range 10 {
		users = append(users, p.session(fmt.Sprintf("user-%d", i), time.Duration(i)*time.Minute))
	}
	var anon string
	for range 5 {
		anon = p.session("", 0)
		if !p.alive(anon) {
			t.Fatal("an anonymous session was lost by its own write")
		}
	}
	for i, sid := range users {
		if !p.alive(sid) {
			t.Errorf("user %d evicted by an anonymous write", i)
		}
	}
	if n := p.s.Len(); n != 11 {
		t.Errorf("Len = %d, want 11 (the users and the last anonymous session)", n)
	}
	login := p.session("new", 0)
	if p.alive(anon) || !p.alive(login) {
		t.Errorf("after a login: anonymous session alive %v, login alive %v; want false, true", p.alive(anon), p.alive(login))
	}
	// Then the user closest to expiry (the idlest) makes room.
	if p.alive(users[9]) {
		t.Error("the idlest user survived a login into a store full of users")
	}
	if n := p.s.Len(); n != 10 {
		t.Errorf("Len = %d, want 10", n)
	}
}

// Expired records go before live ones whatever their class.
func TestEvictsExpiredUsersBeforeLiveAnonymous(t *testing.T) {
	p := newPressure(t, 20)
	var users, anon []string
	for i := range 5 {
		users = append(users, p.session(fmt.Sprintf("user-%d", i), 29*time.Minute))
	}
	for range 15 {
		anon = append(anon, p.session("", 0))
	}
	p.clock.Advance(2 * time.Minute) // the users' sessions expire
	for range 5 {
		anon = append(anon, p.session("", 0))
	}
	for i, sid := range anon {
		if !p.alive(sid) {
			t.Errorf("live anonymous session %d evicted while expired ones were there", i)
		}
	}
	if n := p.s.Len(); n != 20 {
		t.Errorf("Len = %d, want 20", n)
	}
	for i, sid := range users {
		p.wantIndexed(fmt.Sprintf("user-%d", i), sid)
	}
}

// The tombstone a periodic rotation leaves behind a user's session forwards
// that user's in-flight requests: an anonymous flood does not evict it.
func TestUserTombstoneOutlivesAnonymous(t *testing.T) {
	p := newPressure(t, 20)
	old := p.session("alice", 0)
	now := p.clock.Now()
	moved := store.Moved{To: id(1 << 30), Sealed: []byte("sealed")}
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(30 * time.Minute), UserID: "alice", SetUserID: true}
	if _, err := p.s.Commit(ctx, moved.To, c); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Move(ctx, old, moved, now.Add(30*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		p.session("", 0)
	}
	if rec, _ := p.s.Load(ctx, old); rec == nil || rec.Moved == nil {
		t.Error("an anonymous flood evicted the tombstone of a user's session")
	}
	if !p.alive(moved.To) {
		t.Error("an anonymous flood evicted a user's session")
	}
	// An anonymous session's tombstone is anonymous.
	anon := p.session("", 0)
	if err := p.s.Move(ctx, anon, store.Moved{To: id(1 << 31)}, now.Add(30*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		p.session("", 0)
	}
	if p.alive(anon) {
		t.Error("an anonymous session's tombstone outlived 20 newer anonymous sessions in a store of 20")
	}
}

// A hostile commit far over the limit is refused before its values are
// copied: it costs the store no memory.
func TestOversizedValueNotCopied(t *testing.T) {
	s := newStore(t)
	huge := make([]byte, 64<<20)
	now := time.Now()
	c := store.Change{Mode: store.Create, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"a": huge, "b": huge, "c": huge}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := s.Commit(ctx, id(1), c)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Commit of 192 MiB: %v, want ErrTooLarge", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing a 192 MiB commit allocated %d bytes", n)
	}
}

// The user index lists a session exactly while it is alive, while evictions
// race with logins, logouts (SetUserID to "") and user changes: a session
// switching to anonymous becomes evictable, and must leave the index in the
// same step as it leaves the store.
func TestIndexExactUnderEviction(t *testing.T) {
	p := newPressure(t, 500)
	const sessions = 40
	sids := make([]string, sessions)
	for i := range sids {
		// Half of them idle, expiring before any record of the flood: those
		// are evicted on the way, the others survive it.
		sids[i] = p.session(fmt.Sprintf("user-%d", i), time.Duration(i%2)*25*time.Minute)
	}
	final := make([]string, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			for n := range 300 + i%3 { // ending anonymous, under user-i or under other-i
				user := ""
				switch n % 3 {
				case 1:
					user = fmt.Sprintf("user-%d", i)
				case 2:
					user = fmt.Sprintf("other-%d", i)
				}
				c := store.Change{Mode: store.Update, SetUserID: true, UserID: user}
				if _, err := p.s.Commit(ctx, sids[i], c); err != nil {
					final[i] = "evicted"
					return // evicted while anonymous
				}
				final[i] = user
			}
		})
	}
	wg.Go(func() {
		now := p.clock.Now()
		for i := range 20_000 {
			c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(20*time.Minute + time.Duration(i)*time.Millisecond)}
			if i%100 == 0 { // users among the flood, too few to fill the store
				c.UserID = fmt.Sprintf("flood-%d", i)
			}
			if _, err := p.s.Commit(ctx, fmt.Sprintf("%064x", 1<<40+i), c); err != nil {
				t.Errorf("Create: %v", err)
				return
			}
		}
	})
	wg.Wait()
	alive := 0
	for i, sid := range sids {
		for _, user := range []string{fmt.Sprintf("user-%d", i), fmt.Sprintf("other-%d", i)} {
			infos, err := p.s.UserSessions(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			listed := len(infos) == 1 && infos[0].ID == sid
			rec, _ := p.s.Load(ctx, sid)
			live := rec != nil && rec.UserID == user
			if listed != live || len(infos) > 1 {
				t.Errorf("session %d (last set to %q): under %q alive %v, listed %v (%d entries)", i, final[i], user, live, listed, len(infos))
			}
			if live {
				alive++
			}
		}
	}
	// Users never fill the store, and the anonymous sessions of the flood
	// expire before the active sessions: the 14 active sessions that end
	// under a user outlive the flood, even the times they were anonymous.
	if alive < 14 {
		t.Errorf("%d sessions alive under a user, want at least the 14 active ones", alive)
	}
}
