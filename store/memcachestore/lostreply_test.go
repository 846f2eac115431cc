package memcachestore_test

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// proxy relays TCP to memcached and can lose one reply: it passes the command
// on, lets the server carry it out, and then closes the client's connection
// instead of relaying the answer. The client sees EOF on a command that took
// effect, the case the store's retry of a dead connection must get right.
type proxy struct {
	ln     net.Listener
	target string
	cut    atomic.Pointer[string] // reply prefix to lose, once
	skip   atomic.Int32           // matching replies to pass before the one lost
	cuts   atomic.Int32

	hold     atomic.Pointer[string] // command prefix to hold back, once
	held     chan struct{}          // closed when a command was held back
	released chan struct{}          // closed to pass the held command on
	release  func()

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, held: make(chan struct{}), released: make(chan struct{})}
	p.release = sync.OnceFunc(func() { close(p.released) })
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		p.release()
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// loseNext makes the proxy lose the next reply that starts with prefix.
func (p *proxy) loseNext(prefix string) { p.loseNth(prefix, 1) }

// loseNth makes the proxy lose the n-th next reply (from 1) that starts with
// prefix.
func (p *proxy) loseNth(prefix string, n int) {
	p.skip.Store(int32(n - 1))
	p.cut.Store(&prefix)
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			p.commands(c, up)
			up.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.replies(c, up)
		}()
	}
}

// holdNext makes the proxy hold back the next command that starts with
// prefix, as a stalled link would, until release: the client times out and
// closes its connection, and the command reaches memcached afterwards.
func (p *proxy) holdNext(prefix string) { p.hold.Store(&prefix) }

func (p *proxy) commands(c, up net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if want := p.hold.Load(); want != nil && bytes.HasPrefix(buf[:n], []byte(*want)) && p.hold.CompareAndSwap(want, nil) {
				close(p.held)
				<-p.released
			}
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) replies(c, up net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if want := p.cut.Load(); want != nil && bytes.HasPrefix(buf[:n], []byte(*want)) && p.skip.Add(-1) < 0 && p.cut.CompareAndSwap(want, nil) {
				p.cuts.Add(1)
				up.Close()
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				up.Close()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Every write whose reply is lost after it took effect is retried on a fresh
// connection and still reports the truth: a create is not mistaken for a
// create over an existing record, a commit's change is there once, a move is
// not mistaken for a move of a tombstone.
func TestLostReplies(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	px := newProxy(t, srv.Addr())
	client := memcachedClient(t, px.addr())
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(prefix()))
	ctx := t.Context()
	id, user := newID(), "erin"
	now := time.Now()

	px.loseNext("STORED")
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"a": []byte("1")}})
	if err != nil {
		t.Fatalf("Create whose reply was lost: %v", err)
	}

	// The user index's write comes first: lose its reply.
	px.loseNext("STORED")
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: user}); err != nil {
		t.Fatalf("Update whose index write lost its reply: %v", err)
	}
	if infos, err := s.UserSessions(ctx, user); err != nil || len(infos) != 1 {
		t.Fatalf("UserSessions = %v, %v; want the session", infos, err)
	}

	px.loseNext("STORED")
	res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"b": []byte("2")}, Delete: []string{"a"}})
	if err != nil {
		t.Fatalf("Update whose reply was lost: %v", err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil {
		t.Fatalf("Load = %v, %v", rec, err)
	}
	if rec.Values.Len() != 1 || string(rec.Values.Get("b")) != "2" || rec.Version != res.Version || rec.Version < 2 {
		t.Errorf("after a lost-reply update: values %q, version %d (commit said %d)", rec.Values, rec.Version, res.Version)
	}

	px.loseNext("STORED")
	to := store.Moved{To: newID(), Sealed: []byte("sealed")}
	if err := s.Move(ctx, id, to, now.Add(time.Minute), rec.Version); err != nil {
		t.Fatalf("Move whose reply was lost: %v", err)
	}
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != to.To {
		t.Fatalf("after a lost-reply move: %+v, %v; want a tombstone", rec, err)
	}

	px.loseNext("DELETED")
	if err := s.Delete(ctx, id); err != nil {
		t.Fatalf("Delete whose reply was lost: %v", err)
	}
	if rec, err := s.Load(ctx, id); rec != nil || err != nil {
		t.Errorf("after a lost-reply delete: %v, %v", rec, err)
	}
	if n := px.cuts.Load(); n != 5 {
		t.Errorf("the proxy lost %d replies, want 5: the test did not test", n)
	}
}

// lostReplyStore is a store whose connections go through a proxy that can
// lose a reply.
func lostReplyStore(t *testing.T) (*memcachestore.Store, *proxy) {
	t.Helper()
	srv := testserver.Memcached(t)
	px := newProxy(t, srv.Addr())
	return memcachestore.New(memcachedClient(t, px.addr()), memcachestore.WithKeyPrefix(prefix())), px
}

// loseOnce loses the next reply that starts with prefix during f, and fails
// the test if none was lost: a test that lost nothing tested nothing.
func (p *proxy) loseOnce(t *testing.T, prefix string, f func()) {
	t.Helper()
	before := p.cuts.Load()
	p.loseNext(prefix)
	f()
	p.cut.Store(nil)
	if p.cuts.Load() != before+1 {
		t.Fatalf("the proxy lost no %q reply: the test did not test", prefix)
	}
}

// A write that ends a record (a Move whose grace is over, the kill of a
// logout; a Commit or Touch whose expiry has passed) and whose reply is lost
// after memcached carried it out reports success when it is sent again, not
// "not found": it finds the marker it left, not nothing.
func TestLostReplyOfEndingWrites(t *testing.T) {
	t.Parallel()
	s, px := lostReplyStore(t)
	ctx := t.Context()
	past := time.Now().Add(-time.Second)
	for name, end := range map[string]func(id string, version uint64) error{
		"Move": func(id string, v uint64) error {
			return s.Move(ctx, id, store.Moved{To: newID()}, past, v)
		},
		"Commit": func(id string, _ uint64) error {
			_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"b": nil}, Expires: past})
			return err
		},
		"Touch": func(id string, _ uint64) error { return s.Touch(ctx, id, past, past) },
	} {
		t.Run(name, func(t *testing.T) {
			id := newID()
			create(t, s, id, "", time.Now().Add(time.Hour), map[string][]byte{"a": []byte("1")})
			px.loseOnce(t, "STORED", func() {
				if err := end(id, 1); err != nil {
					t.Errorf("%s that ends the record, reply lost: %v, want nil", name, err)
				}
			})
			if rec, err := s.Load(ctx, id); rec != nil || err != nil {
				t.Errorf("after the ending %s: Load = %+v, %v; want nothing", name, rec, err)
			}
			if v, err := s.Version(ctx, id); v != 0 || err != nil {
				t.Errorf("after the ending %s: Version = %d, %v; want 0", name, v, err)
			}
		})
	}
}

// An explicit rotation's tombstone forwards nothing (no sealed token) but
// lives until its expiry, so that the rotation's Move, sent again after a
// lost reply or run again by the session manager, recognises it.
func TestLostReplyOfMoveWithoutForward(t *testing.T) {
	t.Parallel()
	s, px := lostReplyStore(t)
	ctx := t.Context()
	id, user := newID(), "frank"
	create(t, s, id, user, time.Now().Add(time.Hour), map[string][]byte{"a": []byte("1")})
	to := store.Moved{To: newID()}
	px.loseOnce(t, "STORED", func() {
		if err := s.Move(ctx, id, to, time.Now().Add(time.Minute), 1); err != nil {
			t.Fatalf("Move whose reply was lost: %v", err)
		}
	})
	// The session manager's own retry, a whole Move again.
	if err := s.Move(ctx, id, to, time.Now().Add(time.Minute), 1); err != nil {
		t.Errorf("the same Move again: %v, want nil", err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != to.To || rec.Moved.Forwards() {
		t.Fatalf("Load = %+v, %v; want a tombstone to %s that forwards nothing", rec, err, to.To)
	}
	// Another rotation is still refused, and the user index let go.
	if err := s.Move(ctx, id, store.Moved{To: newID()}, time.Now().Add(time.Minute), 1); err == nil {
		t.Error("a different Move over the tombstone succeeded")
	}
	if ids := listed(t, s, user); len(ids) != 0 {
		t.Errorf("UserSessions lists %v after the move", ids)
	}
}

// A Touch whose reply is lost sets the same times again; a Delete whose
// reply is lost finds nothing the second time, which is success.
func TestLostReplyOfTouchAndDelete(t *testing.T) {
	t.Parallel()
	s, px := lostReplyStore(t)
	ctx := t.Context()
	id := newID()
	create(t, s, id, "", time.Now().Add(time.Hour), map[string][]byte{"a": []byte("1")})
	seen, expires := time.Now(), time.Now().Add(2*time.Hour)
	px.loseOnce(t, "STORED", func() {
		if err := s.Touch(ctx, id, seen, expires); err != nil {
			t.Fatalf("Touch whose reply was lost: %v", err)
		}
	})
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil || !rec.Expires.Equal(expires) || !rec.LastSeen.Equal(seen) || string(rec.Values.Get("a")) != "1" {
		t.Fatalf("after the touch: %+v, %v", rec, err)
	}
	px.loseOnce(t, "DELETED", func() {
		if err := s.Delete(ctx, id); err != nil {
			t.Fatalf("Delete whose reply was lost: %v", err)
		}
	})
	if rec, err := s.Load(ctx, id); rec != nil || err != nil {
		t.Errorf("after the delete: %v, %v", rec, err)
	}
}

// DeleteUser counts a session whose ending swap was carried out but whose
// reply was lost: "ended 1", not 0. It recognises the tombstone it left by
// the mark in the item's flags; the tombstone itself is a logout's.
func TestLostReplyOfDeleteUser(t *testing.T) {
	t.Parallel()
	s, px := lostReplyStore(t)
	ctx := t.Context()
	user := "grace"
	ids := []string{newID(), newID()}
	for _, id := range ids {
		create(t, s, id, user, time.Now().Add(time.Hour), nil)
	}
	var n int
	px.loseOnce(t, "STORED", func() {
		var err error
		if n, err = s.DeleteUser(ctx, user); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
	})
	if n != len(ids) {
		t.Errorf("DeleteUser = %d with one reply lost, want %d", n, len(ids))
	}
	for _, id := range ids {
		if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != id || rec.Moved.Forwards() {
			t.Errorf("session %s after DeleteUser: %+v, %v; want a tombstone that forwards nothing", id[:8], rec, err)
		}
	}
	if n, err := s.DeleteUser(ctx, user); n != 0 || err != nil {
		t.Errorf("DeleteUser again = %d, %v; want 0: nothing left to end", n, err)
	}
}

// Through the session manager: a login (SetUserID and Rotate) or a logout
// during which memcached carries out a write but its reply is lost, whichever
// write it is, still answers 200 and leaves the user logged in (login) or out
// (logout), never the other way round.
func TestSessionLostReplies(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	px := newProxy(t, srv.Addr())
	st := memcachestore.New(memcachedClient(t, px.addr()), memcachestore.WithKeyPrefix(prefix()))
	a := newApp(t, st)
	ctx := t.Context()
	lost := 0
	for k := 1; k <= 6; k++ {
		user := "kim-" + strconv.Itoa(k)
		ck := a.newSession()
		before := px.cuts.Load()
		px.loseNth("STORED", k)
		r := a.do("POST", "/login?u="+user, ck)
		px.cut.Store(nil)
		if px.cuts.Load() == before {
			break // the login wrote fewer than k items
		}
		lost++
		if r.code != http.StatusOK || r.cookie == nil || r.cookie.MaxAge < 0 || r.cookie.Value == ck {
			t.Errorf("login losing its write #%d's reply: status %d, cookie %v; want 200 and a new session cookie", k, r.code, r.cookie)
			continue
		}
		in := r.cookie.Value
		if got := a.do("GET", "/get?k=init", in).body; got != "1" {
			t.Errorf("login losing its write #%d's reply: the new cookie reads init=%q, want 1", k, got)
		}
		if got := a.do("GET", "/get?k=init", ck).body; got != "-" {
			t.Errorf("login losing its write #%d's reply: the pre-login cookie still reads init=%q", k, got)
		}
		if infos, err := a.m.UserSessions(ctx, user); err != nil || len(infos) != 1 {
			t.Errorf("login losing its write #%d's reply: UserSessions = %d, %v; want 1", k, len(infos), err)
		}

		px.loseNext("STORED")
		r = a.do("POST", "/logout", in)
		px.cut.Store(nil)
		if r.code != http.StatusOK {
			t.Errorf("logout (after login case %d) losing a reply: status %d, want 200", k, r.code)
		}
		if got := a.do("GET", "/get?k=init", in).body; got != "-" {
			t.Errorf("logout (after login case %d) losing a reply: the cookie still reads init=%q", k, got)
		}
	}
	if lost < 2 {
		t.Fatalf("only %d logins lost a reply: the test did not test", lost)
	}
	t.Logf("logins that lost a reply: %d", lost)
}
