package mysqlstore

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// See pgstore's DeleteUserOnAFastClock, in its deleteuser_skew_test.go:
// DeleteUser on a node 5 s ahead must end, not delete, a session with 2 s
// left.
var _ = backendTest("DeleteUserOnAFastClock", func(t *testing.T, db *sql.DB, _ string) {
	table := "sessions_" + randHex(6)
	good := newStore(t, db, WithTable(table))
	ahead := newStore(t, db, WithTable(table), WithClock(func() time.Time { return time.Now().Add(5 * time.Second) }))
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
