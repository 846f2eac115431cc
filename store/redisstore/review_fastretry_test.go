package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// Review: the fast commit's second try loses its reply. go-redis resends it;
// the resend finds the try's own write, misses, and the commit goes to the
// commit script, which applies the change a second time. The result must be
// the stored version and every write must be there.
func TestReviewFastRetryReplyLost(t *testing.T) {
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	var hook func(string)
	s := newStore(t, newClient(t, p.Addr()), redisstore.WithBeforeFastRetry(func(id string) {
		if h := hook; h != nil {
			hook = nil
			h(id)
		}
	}))
	ctx := t.Context()
	id := newID()
	base := seedRecord(t, s, id)
	// Load the fast script into the server first.
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"w": []byte("1")}, Base: base}); err != nil {
		t.Fatal(err)
	}
	stale := base
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"other": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	hook = func(string) { p.LoseReplyTo(redisstore.FastCommitScriptHash()) }
	res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"mine": []byte("7")}, Base: stale})
	if p.Lost() != 1 {
		t.Fatalf("lost %d replies", p.Lost())
	}
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Load(ctx, id)
	if got.Version != res.Version {
		t.Errorf("result version %d, stored %d", res.Version, got.Version)
	}
	for _, k := range []string{"w", "other", "mine", "a"} {
		if !got.Values.Has(k) {
			t.Errorf("%s missing: %v", k, keysOf(got))
		}
	}
}

// Review: between the fast commit's miss and its retry the session is ended
// (Move to a new ID, Move forwarding nothing, Delete, DeleteUser, an expiry
// by Touch). The retry must not bring it back, and the commit reports it as
// the commit script would.
func TestReviewFastRetryAfterEnd(t *testing.T) {
	rdb := testserver.Redis(t)
	var hook func(string)
	s := newStore(t, newClient(t, rdb.Addr()), redisstore.WithBeforeFastRetry(func(id string) {
		if h := hook; h != nil {
			hook = nil
			h(id)
		}
	}))
	ctx := t.Context()
	ends := map[string]func(t *testing.T, id, user string){
		"move": func(t *testing.T, id, user string) {
			if err := s.Move(ctx, id, store.Moved{To: newID(), Sealed: []byte("x")}, time.Now().Add(time.Minute), 0); err != nil {
				t.Error(err)
			}
		},
		"move to self": func(t *testing.T, id, user string) {
			if err := s.Move(ctx, id, store.Moved{To: id}, time.Now().Add(time.Minute), 0); err != nil {
				t.Error(err)
			}
		},
		"delete": func(t *testing.T, id, user string) {
			if err := s.Delete(ctx, id); err != nil {
				t.Error(err)
			}
		},
		"delete user": func(t *testing.T, id, user string) {
			if _, err := s.DeleteUser(ctx, user); err != nil {
				t.Error(err)
			}
		},
		"expired by touch": func(t *testing.T, id, user string) {
			now := time.Now()
			if err := s.Touch(ctx, id, now, now.Add(-time.Second)); err != nil {
				t.Error(err)
			}
		},
		"liveat past the new expiry": func(t *testing.T, id, user string) {
			now := time.Now()
			if err := s.Touch(ctx, id, now, now.Add(time.Second)); err != nil {
				t.Error(err)
			}
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			id := newID()
			base := seedRecord(t, s, id)
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"other": []byte("1")}}); err != nil {
				t.Fatal(err)
			}
			ran := false
			hook = func(id string) { ran = true; end(t, id, base.UserID) }
			_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"mine": []byte("7")}, Base: base, LiveAt: time.Now().Add(time.Minute)})
			if !ran {
				t.Fatal("no retry")
			}
			if err == nil {
				t.Errorf("commit after the session ended succeeded")
			}
			got, lerr := s.Load(ctx, id)
			if lerr != nil {
				t.Fatal(lerr)
			}
			if got != nil && got.Moved == nil && name != "liveat past the new expiry" {
				t.Errorf("the session came back: %+v", got)
			}
			if got != nil && got.Moved == nil && got.Values.Has("mine") {
				t.Errorf("the change applied: %v", keysOf(got))
			}
		})
	}
}

// Review: the caller's deadline passes between the miss and the retry:
// nothing may apply.
func TestReviewFastRetryAfterDeadline(t *testing.T) {
	rdb := testserver.Redis(t)
	var hook func(string)
	s := newStore(t, newClient(t, rdb.Addr()), redisstore.WithBeforeFastRetry(func(id string) {
		if h := hook; h != nil {
			hook = nil
			h(id)
		}
	}))
	ctx := t.Context()
	id := newID()
	base := seedRecord(t, s, id)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"other": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	hook = func(string) { time.Sleep(400 * time.Millisecond) }
	_, err := s.Commit(cctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"mine": []byte("7")}, Base: base})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v", err)
	}
	got, _ := s.Load(ctx, id)
	if got.Values.Has("mine") {
		t.Errorf("a write after the deadline applied")
	}
}
