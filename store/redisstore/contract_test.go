package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// A Move run again finds its own tombstone and succeeds without changing it;
// a Move to another ID still reports the tombstone.
func TestMoveRecognisesItsOwnTombstone(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()))
	ctx := t.Context()
	for _, sealed := range [][]byte{[]byte("sealed"), nil} {
		id, to := newID(), newID()
		create(t, s, id, "alice")
		exp := time.Now().Add(time.Minute)
		if err := s.Move(ctx, id, store.Moved{To: to, Sealed: sealed}, exp, 1); err != nil {
			t.Fatal(err)
		}
		before, err := s.Load(ctx, id)
		if err != nil || before == nil || before.Moved == nil {
			t.Fatalf("load after the move: %v, %v", before, err)
		}
		if err := s.Move(ctx, id, store.Moved{To: to, Sealed: sealed}, exp, 1); err != nil {
			t.Errorf("sealed %q: the same Move again: %v, want nil", sealed, err)
		}
		after, _ := s.Load(ctx, id)
		if after == nil || after.Version != before.Version {
			t.Errorf("sealed %q: the repeated Move changed the tombstone: %+v → %+v", sealed, before, after)
		}
		err = s.Move(ctx, id, store.Moved{To: newID()}, exp, 1)
		if m, ok := store.IsMoved(err); !ok || m.Moved.To != to {
			t.Errorf("sealed %q: a Move to another ID: %v, want a MovedError to the first", sealed, err)
		}
	}
}

// A tombstone with no sealed token is kept like any other, and forwards
// nothing: Load and the writes it refuses report To and no token.
func TestEmptySealedTombstone(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()))
	ctx := t.Context()
	id, to := newID(), newID()
	create(t, s, id, "alice")
	if err := s.Move(ctx, id, store.Moved{To: to}, time.Now().Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != to || rec.Moved.Forwards() {
		t.Fatalf("load: %+v, %v; want a tombstone to %.8s that forwards nothing", rec, err, to)
	}
	_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("2")}})
	if m, ok := store.IsMoved(err); !ok || m.Moved.To != to || m.Moved.Forwards() {
		t.Errorf("commit on it: %v, want a MovedError to %.8s that forwards nothing", err, to)
	}
	if err := s.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour)); !isMovedTo(err, to) {
		t.Errorf("touch on it: %v, want a MovedError", err)
	}
	if infos, _ := s.UserSessions(ctx, "alice"); len(infos) != 0 {
		t.Errorf("alice's sessions after the move: %v, want none", infos)
	}
}

func isMovedTo(err error, to string) bool {
	m, ok := store.IsMoved(err)
	return ok && m.Moved.To == to
}

// A lost reply (issue 12.4): the Move reaches Redis, the connection breaks
// before its reply, go-redis resends it, and the resend must succeed. A
// Create resent the same way reports ErrExists, which the session manager
// recognises as its own (store contract); its record is there.
func TestLostReply(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	s := newStore(t, newClient(t, p.Addr()))
	ctx := t.Context()
	// Load the scripts first: a lost NOSCRIPT reply proves nothing.
	warm := newID()
	create(t, s, warm, "")
	if err := s.Move(ctx, warm, store.Moved{To: newID()}, time.Now().Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}

	for _, sealed := range [][]byte{[]byte("sealed"), nil} {
		id, to := newID(), newID()
		create(t, s, id, "alice")
		p.LoseReplyTo(to)
		lost := p.Lost()
		err := s.Move(ctx, id, store.Moved{To: to, Sealed: sealed}, time.Now().Add(time.Minute), 1)
		if p.Lost() != lost+1 {
			t.Fatalf("the proxy lost %d replies, want 1", p.Lost()-lost)
		}
		if err != nil {
			t.Errorf("sealed %q: a Move whose reply was lost: %v, want nil", sealed, err)
		}
		if rec, _ := s.Load(ctx, id); rec == nil || rec.Moved == nil || rec.Moved.To != to {
			t.Errorf("sealed %q: after the move: %+v, want a tombstone to %.8s", sealed, rec, to)
		}
	}

	id := newID()
	now := time.Now()
	p.LoseReplyTo(id)
	lost := p.Lost()
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"a": []byte("1")}})
	if p.Lost() != lost+1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.Lost()-lost)
	}
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("a Create whose reply was lost: %v, want ErrExists (the resend's)", err)
	}
	if rec, _ := s.Load(ctx, id); rec == nil || string(rec.Values.Get("a")) != "1" || rec.Version != 1 {
		t.Errorf("after the create: %+v, want it at version 1", rec)
	}
}

// Late writes (issue 12.7): writes held by a stalled link past their
// deadline fail with an error matching context.DeadlineExceeded and must not
// apply when the link thaws, as Redis runs them then.
func TestLateWritesDoNotApply(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	direct := newStore(t, newClient(t, rdb.Addr()), redisstore.WithPrefix("late:"))
	p := testserver.NewProxy(t, rdb.Addr())
	// One connection, opened (and past its handshake) before each freeze,
	// as a pooled connection under load is: a connection dialled while the
	// link is frozen would not get past its handshake.
	client := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, PoolSize: 1})
	t.Cleanup(func() { client.Close() })
	s := newStore(t, client, redisstore.WithPrefix("late:"), redisstore.WithPolicyCheck(false))
	ctx := t.Context()
	upd, touched, moved := newID(), newID(), newID()
	for _, id := range []string{upd, touched, moved} {
		create(t, direct, id, "")
	}
	// Every script loaded: what is frozen is the write, not a NOSCRIPT.
	warm := newID()
	create(t, s, warm, "")
	if err := s.Touch(ctx, warm, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, warm, store.Moved{To: newID()}, time.Now().Add(time.Hour), versionOf(t, s, warm)); err != nil {
		t.Fatal(err)
	}

	const deadline = 300 * time.Millisecond
	far := time.Now().Add(24 * time.Hour)
	created := newID()
	for _, w := range []struct {
		name  string
		write func(context.Context) error
	}{
		{"create", func(ctx context.Context) error {
			now := time.Now()
			_, err := s.Commit(ctx, created, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: far})
			return err
		}},
		{"update", func(ctx context.Context) error {
			_, err := s.Commit(ctx, upd, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("late")}})
			return err
		}},
		{"touch", func(ctx context.Context) error { return s.Touch(ctx, touched, time.Now(), far) }},
		{"move", func(ctx context.Context) error {
			return s.Move(ctx, moved, store.Moved{To: newID()}, far, 1)
		}},
	} {
		if err := client.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		p.Freeze()
		wctx, cancel := context.WithTimeout(ctx, deadline)
		err := w.write(wctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s through a frozen link: %v, want context.DeadlineExceeded", w.name, err)
		}
		if n := p.Held(); n != 1 {
			t.Fatalf("%s: the frozen link holds %d requests, want 1", w.name, n)
		}
		rdb.ResetStats(t)
		p.Thaw()
		// What the link held reaches Redis now and runs there.
		eventually(t, w.name+" run after the thaw", func() bool { return rdb.CommandStats(t)["evalsha"] == 1 })
	}
	if rec, _ := direct.Load(ctx, created); rec != nil {
		t.Errorf("the late create applied: %+v", rec)
	}
	rec, _ := direct.Load(ctx, upd)
	if rec == nil || string(rec.Values.Get("a")) != "1" || rec.Version != 1 {
		t.Errorf("the late update applied: %+v", rec)
	}
	if rec, _ := direct.Load(ctx, touched); rec == nil || rec.Version != 1 || rec.Expires.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("the late touch applied: %+v", rec)
	}
	if rec, _ := direct.Load(ctx, moved); rec == nil || rec.Moved != nil {
		t.Errorf("the late move applied: %+v", rec)
	}
}

// Issue 12.5: a commit that takes a session away from alice removes her index
// entry after its script; a commit that gives the session back to her in
// between must leave her index listing it, or "log out everywhere" misses a
// live session. The hook runs the second commit exactly in that window.
func TestUnindexRacingReindex(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	prefix := "race" + randHex(4) + ":"
	other := newStore(t, client, redisstore.WithPrefix(prefix))
	ctx := t.Context()
	for _, to := range []string{"", "bob"} {
		id := newID()
		var raced int
		s := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithBeforeUnindex(func(got string) {
			if got != id || raced > 0 {
				return
			}
			raced++
			if _, err := other.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: "alice"}); err != nil {
				t.Errorf("the racing commit: %v", err)
			}
		}))
		create(t, s, id, "alice")
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: to}); err != nil {
			t.Fatal(err)
		}
		if raced != 1 {
			t.Fatalf("the hook ran the racing commit %d times, want 1", raced)
		}
		if rec, _ := s.Load(ctx, id); rec == nil || rec.UserID != "alice" {
			t.Fatalf("after the race the session is %+v, want alice's", rec)
		}
		infos, err := s.UserSessions(ctx, "alice")
		if err != nil || len(infos) != 1 || infos[0].ID != id {
			t.Errorf("to %q: alice's sessions after the race: %v, %v; want the session", to, infos, err)
		}
		if n, err := s.DeleteUser(ctx, "alice"); n != 1 || err != nil {
			t.Errorf("to %q: DeleteUser(alice) = %d, %v; want 1", to, n, err)
		}
	}
}

// A login on a node whose clock is skewed, with a listing of the user on
// another node between the login's index entry and its session write: the
// listing finds the entry's session missing, and if the entry looks older
// than indexGrace it is removed. Scored and judged by the app nodes' clocks,
// an entry indexed by a node a minute behind, or judged by one a minute
// ahead, looked old at once: the session was written after its entry was
// gone, and "log out everywhere" missed it. The index's own node scores and
// judges its entries now.
func TestIndexEntryOfASkewedNode(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	ctx := t.Context()
	skewed := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	for _, tc := range []struct {
		name           string
		login, listing time.Duration
	}{
		{"login node behind", -2 * time.Minute, 0},
		{"listing node ahead", 0, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "skew" + randHex(4) + ":"
			user := "alice" + randHex(4)
			lister := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(skewed(tc.listing)))
			id := newID()
			listed := 0
			login := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(skewed(tc.login)),
				redisstore.WithAfterIndex(func(got string) {
					if got != id {
						return
					}
					listed++
					if _, err := lister.UserSessions(ctx, user); err != nil {
						t.Errorf("UserSessions: %v", err)
					}
				}))
			create(t, login, id, user)
			if listed != 1 {
				t.Fatalf("the hook listed %d times, want 1", listed)
			}
			if infos, err := lister.UserSessions(ctx, user); err != nil || len(infos) != 1 {
				t.Errorf("UserSessions after the login = %d sessions, %v; want 1 (the listing in between removed its entry)", len(infos), err)
			}
			if n, err := lister.DeleteUser(ctx, user); n != 1 || err != nil {
				t.Errorf("DeleteUser = %d, %v; want 1: the login survives \"log out everywhere\"", n, err)
			}
		})
	}
}

// In a Cluster too, the scripts read Redis' clock (TIME) for a call with a
// deadline and then write: every master runs them (Redis 7 replicates a
// script's effects, so a write after TIME is allowed).
func testClusterDeadline(t *testing.T, client *redis.ClusterClient) {
	prefix := "cd" + randHex(4) + ":"
	s := newStore(t, client, redisstore.WithPrefix(prefix))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	masters := map[string]bool{}
	for i := 0; len(masters) < 3; i++ {
		if i == 100 {
			t.Fatalf("100 sessions landed on %d masters only", len(masters))
		}
		id := newID()
		now := time.Now()
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "alice", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatalf("create with a deadline: %v", err)
		}
		if err := s.Touch(ctx, id, now, now.Add(2*time.Hour)); err != nil {
			t.Fatalf("touch with a deadline: %v", err)
		}
		if err := s.Move(ctx, id, store.Moved{To: newID()}, now.Add(time.Minute), versionOf(t, s, id)); err != nil {
			t.Fatalf("move with a deadline: %v", err)
		}
		node, err := client.MasterForKey(ctx, prefix+"s:"+id)
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
	}
}
