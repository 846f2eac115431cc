package pgstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// A Move run again after its reply was lost recognises its own tombstone,
// also after the tombstone expired (a login's rotation leaves one that
// expires at once); a Move to another ID does not. Tombstones with no sealed
// token are kept like any other and forward nothing.
var _ = backendTest("MoveResent", func(t *testing.T, pool *pgxpool.Pool) {
	clock := storetest.NewClock(time.Now())
	s := newStore(t, pool, WithClock(clock.Now))
	ctx := ctxT(t)
	for _, sealed := range [][]byte{[]byte("sealed"), nil, {}} {
		id, rec := createRecord(t, s, clock.Now())
		m := store.Moved{To: newID(), Sealed: sealed}
		grace := clock.Now().Add(time.Minute)
		if err := s.Move(ctx, id, m, grace, rec.Version); err != nil {
			t.Fatalf("Move (sealed %q): %v", sealed, err)
		}
		tomb, err := s.Load(ctx, id)
		if err != nil || tomb == nil || tomb.Moved == nil || tomb.Moved.To != m.To || !bytes.Equal(tomb.Moved.Sealed, sealed) {
			t.Fatalf("Load of the tombstone (sealed %q): %+v, %v", sealed, tomb, err)
		}
		if tomb.Moved.Forwards() != (len(sealed) > 0) {
			t.Errorf("tombstone with sealed %q: Forwards() = %v", sealed, tomb.Moved.Forwards())
		}
		if err := s.Move(ctx, id, m, grace, rec.Version); err != nil {
			t.Errorf("Move resent (sealed %q): %v, want nil", sealed, err)
		}
		if err := s.Move(ctx, id, store.Moved{To: newID(), Sealed: sealed}, grace, rec.Version); !isMoved(err, m.To) {
			t.Errorf("another Move of the tombstone: %v, want a MovedError to the first", err)
		}
		_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("x")}})
		if !isMoved(err, m.To) {
			t.Errorf("Update of the tombstone (sealed %q): %v, want a MovedError", sealed, err)
		}
		if after, _ := s.Load(ctx, id); after == nil || after.Version != tomb.Version {
			t.Errorf("tombstone changed by a resent Move: %+v, want version %d", after, tomb.Version)
		}
	}

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
