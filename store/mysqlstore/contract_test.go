package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

func isMoved(err error, to string) bool {
	me, ok := store.IsMoved(err)
	return ok && me.Moved.To == to
}

// A Move run again after its reply was lost recognises its own tombstone
// even after the tombstone expired, until the reaper takes it; a Move to
// another ID does not. (storetest's Move/Resend and Move/EndedTombstone cover
// the live tombstone, sealed or not.)
var _ = backendTest("MoveResent", func(t *testing.T, db *sql.DB, _ string) {
	clock := storetest.NewClock(time.Now())
	s := newStore(t, db, WithClock(clock.Now))
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

// Deleting a record deletes its value rows (the foreign key's cascade), and
// so do a Move and a Create over an expired record: nothing of a session
// outlives it in the values table.
var _ = backendTest("NoOrphanValues", func(t *testing.T, db *sql.DB, _ string) {
	clock := storetest.NewClock(time.Now())
	s := newStore(t, db, WithClock(clock.Now))
	ctx := ctxT(t)
	values := func(id string) int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.n.values+" WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deleted, _ := createRecord(t, s, clock.Now())
	if err := s.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	moved, rec := createRecord(t, s, clock.Now())
	if err := s.Move(ctx, moved, store.Moved{To: newID()}, clock.Now().Add(time.Minute), rec.Version); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{deleted, moved} {
		if n := values(id); n != 0 {
			t.Errorf("%d value rows left of a deleted or moved record", n)
		}
	}
	recreated, _ := createRecord(t, s, clock.Now())
	clock.Advance(2 * time.Hour)
	now := clock.Now()
	if _, err := s.Commit(ctx, recreated, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"new": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if n := values(recreated); n != 1 {
		t.Errorf("%d value rows after a Create over an expired record, want its 1", n)
	}
})

// A hostile or unusable table name is refused by New and DDL with an
// *InvalidNameError, before any SQL is sent; none reaches the server.
var _ = backendTest("HostileTableName", func(t *testing.T, db *sql.DB, _ string) {
	for _, name := range []string{
		"", "x`; DROP TABLE users; --", "a b", "sessions;", "t\x00", "tëst", "a.b", "a-b", "`", "a'b", `a"b`,
		strings.Repeat("t", maxTableLen+1),
	} {
		_, err := New(ctxT(t), db, WithTable(name))
		if _, ok := errors.AsType[*InvalidNameError](err); !ok {
			t.Errorf("New(WithTable(%q)): %v, want an *InvalidNameError", name, err)
		}
		if _, err := DDL(WithTable(name)); err == nil {
			t.Errorf("DDL(WithTable(%q)) accepted it", name)
		}
	}
	// The longest accepted name works, values table included.
	s := newStore(t, db, WithTable("$"+strings.Repeat("T", maxTableLen-1)))
	createRecord(t, s, time.Now())
})

// With WithCreateTable(false), New fails on a missing table, and succeeds
// once the statements of DDL have run.
var _ = backendTest("DDL", func(t *testing.T, db *sql.DB, _ string) {
	table := "ddl_" + randHex(6)
	if _, err := New(ctxT(t), db, WithTable(table), WithCreateTable(false)); err == nil || !strings.Contains(err.Error(), "DDL") {
		t.Fatalf("New on a missing table: %v, want an error naming DDL", err)
	}
	stmts, err := DDL(WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctxT(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := newStore(t, db, WithTable(table), WithCreateTable(false))
	createRecord(t, s, time.Now())
})

// Nodes that start together all create the tables, one at a time under
// GET_LOCK, and all come up.
var _ = backendTest("ConcurrentCreate", func(t *testing.T, db *sql.DB, _ string) {
	table := "cc_" + randHex(6)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			s, err := New(context.Background(), db, WithTable(table))
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
})

// New takes the table's creation lock: while another node holds it, New
// waits, and fails when its timeout passes before the lock is free.
var _ = backendTest("CreateTakesLock", func(t *testing.T, db *sql.DB, _ string) {
	table := "lk_" + randHex(6)
	conn, err := db.Conn(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lock := lockName("ddl", "tether", table)
	var got int
	if err := conn.QueryRowContext(ctxT(t), "SELECT GET_LOCK(?, 0)", lock).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %d, %v", got, err)
	}
	if _, err := New(ctxT(t), db, WithTable(table), WithTimeout(1500*time.Millisecond)); err == nil {
		t.Fatal("New created the table while another node held the creation lock")
	}
	if _, err := conn.ExecContext(ctxT(t), "DO RELEASE_LOCK(?)", lock); err != nil {
		t.Fatal(err)
	}
	newStore(t, db, WithTable(table))
})

// User ids and IDs are bytes to the contract: invalid UTF-8, NUL and bytes
// a collation would fold round-trip and stay distinct, over the binary
// protocol and with interpolateParams.
var _ = backendTest("BinaryUserIDs", func(t *testing.T, db *sql.DB, dsn string) {
	for _, pool := range []*sql.DB{db, openDB(t, dsn+"?interpolateParams=true")} {
		s := newStore(t, pool)
		ctx := ctxT(t)
		now := time.Now()
		users := []string{"\xff\xfe\x00bad", "Bob", "bob", "bob ", "b\x00b", "'; DROP TABLE x; --"}
		ids := map[string]string{}
		for _, u := range users {
			id := "\xff" + newID()[:40] + "\x00"
			ids[u] = id
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: u,
				Set: map[string][]byte{"k": []byte(u)}}); err != nil {
				t.Fatalf("create for user %q: %v", u, err)
			}
		}
		for _, u := range users {
			rec, err := s.Load(ctx, ids[u])
			if err != nil || rec == nil || rec.UserID != u || string(rec.Values.Get("k")) != u {
				t.Errorf("record of user %q: %+v, %v", u, rec, err)
			}
			infos, err := s.UserSessions(ctx, u)
			if err != nil || len(infos) != 1 || infos[0].ID != ids[u] {
				t.Errorf("UserSessions(%q): %+v, %v; want its one record", u, infos, err)
			}
		}
		if n, err := s.DeleteUser(ctx, "bob"); n != 1 || err != nil {
			t.Errorf("DeleteUser(bob): %d, %v; want 1", n, err)
		}
		if rec, err := s.Load(ctx, ids["bob"]); err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != ids["bob"] || rec.Values.Len() != 0 || rec.UserID != "" {
			t.Errorf("bob's session after DeleteUser(bob): %+v, %v; want ended (a tombstone to itself)", rec, err)
		}
		for _, u := range users {
			if rec, _ := s.Load(ctx, ids[u]); u != "bob" && (rec == nil || rec.Moved != nil) {
				t.Errorf("DeleteUser(bob) ended the session of %q", u)
			}
		}
	}
})
