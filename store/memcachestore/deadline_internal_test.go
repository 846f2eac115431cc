package memcachestore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// A write whose context's deadline has passed by the store's clock is not
// sent, whatever the context itself says yet: memcached cannot compare the
// deadline with a clock of its own, so the store does, before every command.
func TestLateWritesAreNotSent(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestStore(t)
	id := randomHex(32)
	now := clock.Now()
	_, err := s.Commit(t.Context(), id, store.Change{Mode: store.Create, Created: now, LastSeen: now,
		Expires: now.Add(time.Hour), Set: map[string][]byte{"a": []byte("1")}, UserID: "hal", SetUserID: true})
	if err != nil {
		t.Fatal(err)
	}
	// The context has seconds left by the process clock; the store's
	// clock is past its deadline.
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(time.Minute))
	defer cancel()
	clock.Advance(2 * time.Minute)
	later := clock.Now()
	for name, write := range map[string]func() error{
		"Commit(update)": func() error {
			_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("late")}})
			return err
		},
		"Commit(create)": func() error {
			_, err := s.Commit(ctx, randomHex(32), store.Change{Mode: store.Create, Created: later, LastSeen: later, Expires: later.Add(time.Hour)})
			return err
		},
		"Touch":  func() error { return s.Touch(ctx, id, later, later.Add(2*time.Hour)) },
		"Move":   func() error { return s.Move(ctx, id, store.Moved{To: randomHex(32)}, later.Add(time.Minute), 1) },
		"Delete": func() error { return s.Delete(ctx, id) },
		"DeleteUser": func() error {
			_, err := s.DeleteUser(ctx, "hal")
			return err
		},
	} {
		if err := write(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s after the deadline: %v, want an error matching context.DeadlineExceeded", name, err)
		}
	}
	rec, err := s.Load(t.Context(), id)
	if err != nil || rec == nil || rec.Version != 1 || string(rec.Values.Get("a")) != "1" || rec.Moved != nil {
		t.Errorf("after the late writes: %+v, %v; want the record as created", rec, err)
	}
}

// A compare-and-swap loop that keeps losing races while its deadline passes
// stops at the first command after the deadline: no swap goes out late.
func TestCASLoopStopsAtDeadline(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcache.New(srv.Addr())
	client.Timeout = 5 * time.Second
	t.Cleanup(func() { client.Close() })
	clock := storetest.NewClock(time.Now())
	reads := 0
	var s *Store
	s = New(client, WithKeyPrefix("t"+randomHex(4)+":"), WithClock(clock.Now), func(c *config) {
		c.afterRead = func(key string) {
			// Another writer lands between every read and swap, and
			// each attempt takes 3 seconds by the store's clock.
			reads++
			now := clock.Now()
			other := &store.Record{Values: store.ValuesOf(map[string][]byte{"other": {byte(reads)}}), Created: now, LastSeen: now,
				Expires: now.Add(time.Hour), Version: uint64(10 + reads)}
			if err := client.Set(&memcache.Item{Key: key, Value: recordcodec.Marshal(other), Expiration: exptime(other.Expires)}); err != nil {
				t.Error(err)
			}
			clock.Advance(3 * time.Second)
		}
	})
	id := randomHex(32)
	now := clock.Now()
	if _, err := s.Commit(t.Context(), id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(t.Context(), now.Add(10*time.Second))
	defer cancel()
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"mine": []byte("x")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Commit = %v, want an error matching context.DeadlineExceeded", err)
	}
	// Reads at 0, 3, 6 and 9 s, each followed by a swap attempt until the
	// one that would go out at 12 s.
	if reads != 4 {
		t.Errorf("%d reads, want 4", reads)
	}
	st := serverStats(t, srv.Addr())
	if st["cas_badval"] != "3" || st["cas_hits"] != "0" {
		t.Errorf("cas_badval %s, cas_hits %s; want 3 swaps refused and none applied", st["cas_badval"], st["cas_hits"])
	}
	rec, err := s.Load(t.Context(), id)
	if err != nil || rec == nil || rec.Values.Get("mine") != nil || rec.Version != 14 {
		t.Errorf("after the late loop: %+v, %v; want the other writer's last record", rec, err)
	}
}
