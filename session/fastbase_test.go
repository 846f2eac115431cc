package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// baseRecorder records the Base of every Update commit, and checks that a
// Base it is given is what is stored under the commit's ID: the contract of
// store.Change.Base. before, if set, runs once before the next commit.
type baseRecorder struct {
	store.Store
	t      *testing.T
	mu     sync.Mutex
	bases  []*store.Record
	before func()
}

func (r *baseRecorder) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	r.mu.Lock()
	before := r.before
	r.before = nil
	r.mu.Unlock()
	if before != nil {
		before()
	}
	if c.Mode == store.Update {
		r.mu.Lock()
		r.bases = append(r.bases, c.Base)
		r.mu.Unlock()
		if c.Base != nil {
			// A Base may be stale (another write came in between: the
			// store then ignores it), never a different record at the
			// stored version.
			cur, err := r.Store.Load(ctx, id)
			if err == nil && cur != nil && cur.Moved == nil && cur.Version == c.Base.Version && !(cur.Values.Packed() == c.Base.Values.Packed() && cur.UserID == c.Base.UserID &&
				cur.Created.Equal(c.Base.Created) && cur.Expires.Equal(c.Base.Expires) && cur.LastSeen.Equal(c.Base.LastSeen)) {
				r.t.Errorf("Base at the stored version %d is not the stored record:\nbase   %+v\nstored %+v", cur.Version, c.Base, cur)
			}
		}
	}
	return r.Store.Commit(ctx, id, c)
}

func (r *baseRecorder) take() []*store.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bases
	r.bases = nil
	return b
}

func fastBaseManager(t *testing.T, opts ...Option) (*Manager, *baseRecorder, func() time.Time, func(time.Duration)) {
	t.Helper()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	rec := &baseRecorder{Store: memstore.New(), t: t}
	m, err := New(append([]Option{WithStore(rec), WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, rec, clock, advance
}

// baseRequest runs f on a session of a request carrying cookie, commits, and
// returns the cookie the client keeps.
func baseRequest(t *testing.T, m *Manager, cookie *http.Cookie, f func(s *Session)) *http.Cookie {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	s := m.Begin(req)
	f(s)
	h := http.Header{}
	if err := s.Commit(h); err != nil {
		t.Fatal(err)
	}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		cookie = c
	}
	return cookie
}

// A request that loaded its session passes it as the Base of its commit; a
// second commit in the same request does not (the first changed what is
// stored, and s.base is not updated with its values), nor does one after a
// touch (Touch bumps the version) or one that sets the user id.
func TestCommitBase(t *testing.T) {
	m, rec, _, advance := fastBaseManager(t, WithTouchInterval(time.Minute))
	cookie := baseRequest(t, m, nil, func(s *Session) { s.Set("n", 0) })
	rec.take()

	baseRequest(t, m, cookie, func(s *Session) {
		n, _ := Get[int](s, "n")
		s.Set("n", n+1)
	})
	if b := rec.take(); len(b) != 1 || b[0] == nil {
		t.Fatalf("an /incr's commit: bases %v, want one", b)
	}

	baseRequest(t, m, cookie, func(s *Session) {
		n, _ := Get[int](s, "n")
		s.Set("n", n+1)
		if err := s.Commit(http.Header{}); err != nil {
			t.Fatal(err)
		}
		s.Set("m", 1)
	})
	if b := rec.take(); len(b) != 2 || b[0] == nil || b[1] != nil {
		t.Fatalf("two commits in one request: bases %v, want the first only", b)
	}

	advance(2 * time.Minute)
	baseRequest(t, m, cookie, func(s *Session) {
		Get[int](s, "n")
		if err := s.Commit(http.Header{}); err != nil { // touches
			t.Fatal(err)
		}
		s.Set("n", 10)
	})
	if b := rec.take(); len(b) != 1 || b[0] != nil {
		t.Fatalf("a commit after a touch: bases %v, want none", b)
	}

	baseRequest(t, m, cookie, func(s *Session) {
		Get[int](s, "n")
		s.SetUserID("alice")
	})
	if b := rec.take(); len(b) != 1 || b[0] != nil {
		t.Fatalf("a commit setting the user: bases %v, want none", b)
	}
	baseRequest(t, m, cookie, func(s *Session) {
		if n, _ := Get[int](s, "n"); n != 10 {
			t.Errorf("n = %d, want 10", n)
		}
		if v, _ := Get[int](s, "m"); v != 1 {
			t.Errorf("m = %d, want 1", v)
		}
	})
}

// A request loads its session, then another rotates it (periodic, with a
// forward) before this one commits: the commit finds the tombstone, follows
// it, and commits to the new ID without a Base, even where the new record's
// version happens to equal the loaded one's.
func TestCommitBaseNotAfterForward(t *testing.T) {
	m, rec, clock, _ := fastBaseManager(t, WithRotateGrace(time.Minute))
	cookie := baseRequest(t, m, nil, func(s *Session) { s.Set("n", 0); s.Set("keep", "old") })
	// Bring the old record to version 3.
	for range 2 {
		cookie = baseRequest(t, m, cookie, func(s *Session) { n, _ := Get[int](s, "n"); s.Set("n", n+1) })
	}
	rec.take()
	ctx := context.Background()
	var newID string
	baseRequest(t, m, cookie, func(s *Session) {
		n, _ := Get[int](s, "n")
		if s.base.Version != 3 {
			t.Fatalf("loaded version %d, want 3", s.base.Version)
		}
		oldTok, oldID := s.token, s.id
		rec.before = func() {
			// Another request's rotation: a new record at version 3,
			// then the old one forwarded to it.
			newTok := newToken()
			newID = tokenID(newTok)
			now := clock()
			base := rec.Store
			if _, err := base.Commit(ctx, newID, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
				Set: map[string][]byte{"n": []byte("2"), "keep": []byte(`"new"`)}}); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := base.Commit(ctx, newID, store.Change{Mode: store.Update, Set: map[string][]byte{"other": []byte("1")}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := base.Move(ctx, oldID, store.Moved{To: newID, Sealed: sealForward(oldTok, newTok, now.Add(time.Minute))}, now.Add(time.Minute), 0); err != nil {
				t.Fatal(err)
			}
		}
		s.Set("n", n+1)
	})
	b := rec.take()
	if len(b) != 2 || b[0] == nil || b[1] != nil {
		t.Fatalf("bases %v, want the loaded record's, then none after the forward", b)
	}
	got, err := rec.Store.Load(ctx, newID)
	if err != nil || got == nil {
		t.Fatal(got, err)
	}
	if v, _ := got.Values.Lookup("keep"); string(v) != `"new"` {
		t.Errorf("the new record's keep = %s: the commit wrote the old record's values over it", v)
	}
	if v, _ := got.Values.Lookup("n"); string(v) != "3" {
		t.Errorf("n = %s, want 3", v)
	}
}
