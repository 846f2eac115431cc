package pgstore

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
)

// A node whose clock runs 5 s ahead runs DeleteUser (found by a review); a session of the user
// with 2 s left by the true clock is live for every other node. DeleteUser
// must end it (a tombstone: an in-flight write gets a MovedError), not delete
// it as expired (an in-flight write gets ErrNotFound and, write-only, starts
// a new session with its changes).
var _ = backendTest("DeleteUserOnAFastClock", func(t *testing.T, pool *pgxpool.Pool) {
	table := "sessions_" + randHex(6)
	good := newStore(t, pool, WithTable(table))
	ahead := newStore(t, pool, WithTable(table), WithClock(func() time.Time { return time.Now().Add(5 * time.Second) }))
	ctx := ctxT(t)
	id := newID()
	now := time.Now()
	if _, err := good.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "alice", SetUserID: true, Created: now, LastSeen: now, Expires: now.Add(2 * time.Second),
		Set: map[string][]byte{"a": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	n, err := ahead.DeleteUser(ctx, "alice")
	if n != 0 || err != nil {
		// Expired by its own clock: ended, but not counted as a live session.
		t.Errorf("DeleteUser on a node 5 s ahead = %d, %v; want 0, nil", n, err)
	}
	_, err = good.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"b": []byte("2")}})
	var me *store.MovedError
	if !errors.As(err, &me) {
		t.Errorf("an in-flight write after DeleteUser (session live for 2 s more): %v, want a *store.MovedError (the session ended)", err)
	}
})
