package memstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// checkIndex checks the index's representation invariants: a user is in at
// most one of one and m, an entry of m holds two ids or more, without
// duplicates, and no empty user is kept.
func checkIndex(t *testing.T, u *userIndex, step string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	for user, id := range u.one {
		if _, both := u.m[user]; both {
			t.Fatalf("%s: %s in one (%s) and in m", step, user, id)
		}
		if user == "" {
			t.Fatalf("%s: empty user indexed", step)
		}
	}
	for user, ids := range u.m {
		n := len(ids.few)
		if ids.many != nil {
			if ids.few != nil {
				t.Fatalf("%s: %s has both few and many", step, user)
			}
			n = len(ids.many)
			if n <= fewIDs/2 {
				t.Fatalf("%s: %s has a set of %d", step, user, n)
			}
		} else {
			s := slices.Clone(ids.few)
			slices.Sort(s)
			if len(slices.Compact(s)) != len(ids.few) {
				t.Fatalf("%s: %s has duplicate ids %v", step, user, ids.few)
			}
		}
		if n < 2 {
			t.Fatalf("%s: %s in m with %d ids", step, user, n)
		}
	}
}

// A random model of adds and removes with small pools of users and ids, so
// that repeated adds, removes of absent ids, ids under two users and every
// transition none <-> one <-> few <-> many happen often.
func TestUserIndexRandomModel(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		var u userIndex
		u.reset()
		users := []string{"", "ann", "bob", "cy"}
		model := map[string]map[string]bool{}
		for _, user := range users {
			model[user] = map[string]bool{}
		}
		pool := 4 + int(seed%4)*10 // 4, 14, 24, 34 ids: below and above fewIDs
		for step := range 3000 {
			user := users[r.IntN(len(users))]
			id := fmt.Sprint("id", r.IntN(pool))
			what := ""
			if r.IntN(100) < 55-int(seed%3)*10 {
				u.add(user, id)
				if user != "" {
					model[user][id] = true
				}
				what = "add"
			} else {
				u.remove(user, id)
				delete(model[user], id)
				what = "remove"
			}
			name := fmt.Sprintf("seed %d step %d %s(%q,%s)", seed, step, what, user, id)
			checkIndex(t, &u, name)
			for _, user := range users {
				if err := sameIDs(u.ids(user), model[user]); err != nil {
					t.Fatalf("%s: ids(%q): %v", name, user, err)
				}
			}
		}
	}
}

// The same transitions through the public Store API: records created,
// moved between users, unindexed, rotated (Move), deleted; UserSessions and
// DeleteUser checked against a model after each step.
func TestUserIndexThroughStore(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for seed := range uint64(8) {
		s := New(WithClock(func() time.Time { return now }))
		r := rand.New(rand.NewPCG(seed, 11))
		users := []string{"", "ann", "bob"}
		owner := map[string]string{} // live record id -> user
		next := 0
		fresh := func() string { next++; return fmt.Sprintf("%064x", next) }
		pick := func() (string, bool) {
			if len(owner) == 0 {
				return "", false
			}
			ids := make([]string, 0, len(owner))
			for id := range owner {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			return ids[r.IntN(len(ids))], true
		}
		check := func(step string) {
			t.Helper()
			checkIndex(t, &s.users, step)
			for _, user := range users[1:] {
				infos, err := s.UserSessions(ctx, user)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]bool{}
				for id, u := range owner {
					if u == user {
						want[id] = true
					}
				}
				var got []string
				for _, in := range infos {
					got = append(got, in.ID)
					if in.UserID != user {
						t.Fatalf("%s: %s listed under %s with user %q", step, in.ID[60:], user, in.UserID)
					}
				}
				if err := sameIDs(got, want); err != nil {
					t.Fatalf("%s: UserSessions(%s): %v", step, user, err)
				}
				if err := sameIDs(s.users.ids(user), want); err != nil {
					t.Fatalf("%s: index of %s: %v", step, user, err)
				}
			}
		}
		for step := range 1500 {
			op := r.IntN(10)
			name := fmt.Sprintf("seed %d step %d op %d", seed, step, op)
			switch {
			case op < 3 || len(owner) == 0: // create
				id, user := fresh(), users[r.IntN(len(users))]
				createFor(t, s, id, user, now)
				owner[id] = user
			case op < 6: // set user id (possibly the same, possibly "")
				id, _ := pick()
				user := users[r.IntN(len(users))]
				if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: user, Set: map[string][]byte{"k": {}}}); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				owner[id] = user
			case op < 7: // rotate: create the new record, move the old
				id, _ := pick()
				to := fresh()
				createFor(t, s, to, owner[id], now)
				if err := s.Move(ctx, id, store.Moved{To: to}, now.Add(time.Minute), 0); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				owner[to] = owner[id]
				delete(owner, id)
			case op < 9: // delete
				id, _ := pick()
				if err := s.Delete(ctx, id); err != nil {
					t.Fatal(err)
				}
				delete(owner, id)
			default: // delete a user
				user := users[1+r.IntN(2)]
				n, err := s.DeleteUser(ctx, user)
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				for id, u := range owner {
					if u == user {
						want++
						delete(owner, id)
					}
				}
				if n != want {
					t.Fatalf("%s: DeleteUser(%s) = %d, want %d", name, user, n, want)
				}
			}
			check(name)
		}
		s.Close()
	}
}
