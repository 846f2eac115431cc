package memstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DeleteUser of a user with very many sessions (logins are not bounded per
// user) must not block the rest of the store for its whole run. Holding
// every shard's lock while it deleted 100,000 records stalled every Load of
// every other session for about 250 ms on a 2-core machine.
func TestDeleteUserManySessionsDoesNotStallStore(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 100,000 records")
	}
	ctx := context.Background()
	now := time.Now()
	s := New(WithMaxEntries(1<<30), WithMaxBytes(1<<40))
	t.Cleanup(func() { s.Close() })
	create := func(id, user string) {
		createFor(t, s, id, user, now)
	}
	const others, many = 1000, 100_000
	for i := range others {
		create(fmt.Sprintf("other-%d", i), "bob")
	}
	for i := range many {
		create(fmt.Sprintf("ann-%d", i), "ann")
	}
	var stop atomic.Bool
	var worst atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			t0 := time.Now()
			if rec, err := s.Load(ctx, fmt.Sprintf("other-%d", i%others)); rec == nil || err != nil {
				t.Errorf("Load: %v, %v", rec, err)
				return
			}
			if d := int64(time.Since(t0)); d > worst.Load() {
				worst.Store(d)
			}
		}
	}()
	time.Sleep(time.Millisecond)
	t0 := time.Now()
	n, err := s.DeleteUser(ctx, "ann")
	took := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if n != many || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want %d", n, err, many)
	}
	if w := time.Duration(worst.Load()); w > took/2 {
		t.Errorf("a Load of another user's session waited %v while DeleteUser took %v: DeleteUser blocked the store for most of its run", w, took)
	}
}

// What is indexed under the user while DeleteUser deletes shard by shard is
// deleted in its step under every shard's lock: a rotation's new record
// (whose Move then finds the old one gone, and the session layer discards
// it) and a login's. The count is of live records deleted.
func TestDeleteUserSecondStepCatchesRotations(t *testing.T) {
	ctx := context.Background()
	s := New()
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	create := func(id string) {
		createFor(t, s, id, "ann", now)
	}
	create("phone-1")
	create("laptop-1")
	s.betweenDeletes = func() {
		create("phone-2")
		create("tablet-1")
	}
	n, err := s.DeleteUser(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("DeleteUser = %d; want 4", n)
	}
	for _, id := range []string{"phone-1", "phone-2", "laptop-1", "tablet-1"} {
		if rec, _ := s.Load(ctx, id); rec != nil && rec.Moved == nil {
			t.Errorf("%s survived DeleteUser: %+v", id, rec)
		}
	}
	if infos, _ := s.UserSessions(ctx, "ann"); len(infos) != 0 {
		t.Errorf("UserSessions after DeleteUser = %v", infos)
	}
}
