package pgstore

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// A Move run again after its reply was lost recognises its own tombstone
// even after the tombstone expired, until the reaper takes it; a Move to
// another ID does not. (storetest's Move/Resend and Move/EndedTombstone cover
// the live tombstone, sealed or not.)
var _ = backendTest("MoveResent", func(t *testing.T, pool *pgxpool.Pool) {
	clock := storetest.NewClock(time.Now())
	s := newStore(t, pool, WithClock(clock.Now))
	ctx := ctxT(t)
	// Expired: the resend still recognises it (until the reaper takes it).
	id, rec := createRecord(t, s, clock.Now())
	m := store.Moved{To: newID()}
	if err := s.Move(ctx, id, m, clock.Now(), rec.Version); err != nil {
		t.Fatalf("Move that expires at once: %v", err)
	}
	if got, _ := s.Load(ctx, id); got != nil {
		t.Errorf("Load after a Move that expires at once: %+v, want nothing", got)
	}
	if err := s.Move(ctx, id, m, clock.Now(), rec.Version); err != nil {
		t.Errorf("Move resent after its tombstone expired: %v, want nil", err)
	}
	if err := s.Move(ctx, id, store.Moved{To: newID()}, clock.Now(), rec.Version); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another Move of an expired tombstone: %v, want ErrNotFound", err)
	}
})

func isMoved(err error, to string) bool {
	me, ok := store.IsMoved(err)
	return ok && me.Moved.To == to
}
