package memcachestore_test

import (
	"bytes"
	"io"
	"net"
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
	cuts   atomic.Int32

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
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
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
func (p *proxy) loseNext(prefix string) { p.cut.Store(&prefix) }

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
			io.Copy(up, c)
			up.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.replies(c, up)
		}()
	}
}

func (p *proxy) replies(c, up net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if want := p.cut.Load(); want != nil && bytes.HasPrefix(buf[:n], []byte(*want)) && p.cut.CompareAndSwap(want, nil) {
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
	if len(rec.Values) != 1 || string(rec.Values["b"]) != "2" || rec.Version != res.Version || rec.Version < 2 {
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
