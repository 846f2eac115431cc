package session

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// baseChecker checks, at every Update that carries a Base, that the record
// stored under the commit's ID at the Base's version, if it still is at that
// version, is the Base: values, user, attributes and times. Any write makes
// a new version in memstore, so a record at the Base's version is the one.
type baseChecker struct {
	store.Store
	t            *testing.T
	bases, wrong atomic.Int64
}

func (r *baseChecker) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if b := c.Base; b != nil {
		r.bases.Add(1)
		cur, err := r.Store.Load(ctx, id)
		if err == nil && cur != nil && cur.Moved == nil && cur.Version == b.Version {
			same := cur.Values.Packed() == b.Values.Packed() && cur.UserID == b.UserID && maps.Equal(cur.Attrs, b.Attrs) &&
				cur.Created.Equal(b.Created) && cur.LastSeen.Equal(b.LastSeen) && cur.Expires.Equal(b.Expires)
			if !same {
				r.wrong.Add(1)
				r.t.Errorf("commit to %s: Base at the stored version %d is not the stored record:\nbase   %+v\nstored %+v", shortID(id), b.Version, b, cur)
			}
		}
	}
	return r.Store.Commit(ctx, id, c)
}

// Many requests of one session at once, each doing a random mix of what a
// handler does (reads, writes, deletes, Clear, attributes, logins, explicit
// rotations, several commits, requests after the touch or rotation
// interval, DestroyUser from the side): every Base the session layer hands
// the store is the record stored at its version, whatever the interleaving.
func TestSessionBaseHoldsUnderConcurrency(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	chk := &baseChecker{Store: memstore.New(), t: t}
	m, err := New(WithStore(chk), WithClock(clock), WithTouchInterval(time.Minute), WithRotateEvery(10*time.Minute),
		WithRotateGrace(time.Hour), WithIdleTimeout(24*time.Hour), WithLifetime(100*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	var errs atomic.Int64
	var cmu sync.Mutex
	var cookies []*http.Cookie // every cookie handed out, newest last
	request := func(rng *rand.Rand, worker, i int) {
		req := httptest.NewRequest("GET", "/", nil)
		cmu.Lock()
		if n := len(cookies); n > 0 {
			// Mostly the newest cookie; sometimes an older one, as a
			// client whose concurrent requests raced a rotation sends.
			k := n - 1
			if rng.IntN(4) == 0 {
				k = rng.IntN(n)
			}
			req.AddCookie(cookies[k])
		}
		cmu.Unlock()
		s := m.Begin(req)
		h := http.Header{}
		for op := range 1 + rng.IntN(5) {
			switch rng.IntN(12) {
			case 0, 1, 2:
				n, _ := Get[int](s, "n")
				s.Set("n", n+1)
			case 3:
				s.Set(fmt.Sprintf("w%d", worker), i)
			case 4:
				s.Delete(fmt.Sprintf("w%d", rng.IntN(8)))
			case 5:
				if rng.IntN(4) == 0 {
					s.Clear()
				} else {
					_ = s.Keys()
				}
			case 6:
				s.SetAttrs(map[string]string{"device": fmt.Sprintf("d%d", rng.IntN(3))})
			case 7:
				if rng.IntN(3) == 0 {
					s.SetUserID(fmt.Sprintf("u%d", rng.IntN(2)))
					s.Rotate()
				}
			case 8:
				if rng.IntN(3) == 0 {
					s.Rotate()
				}
			case 9:
				if err := s.Commit(http.Header{}); err != nil {
					errs.Add(1)
				}
			case 10:
				if rng.IntN(4) == 0 {
					advance(time.Duration(1+rng.IntN(12)) * time.Minute)
				}
			case 11:
				if rng.IntN(10) == 0 {
					if _, err := m.DestroyUser(context.Background(), fmt.Sprintf("u%d", rng.IntN(2))); err != nil {
						t.Errorf("DestroyUser: %v", err)
					}
				}
			}
			_ = op
		}
		if err := s.Commit(h); err != nil {
			// Not this test's concern (a DestroyUser racing a
			// rotation fails the commit with the tombstone): logged.
			if errs.Add(1) <= 3 {
				t.Logf("commit: %v", err)
			}
			return
		}
		for _, c := range (&http.Response{Header: h}).Cookies() {
			if c.MaxAge >= 0 && c.Value != "" {
				cmu.Lock()
				cookies = append(cookies, c)
				cmu.Unlock()
			}
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range 2000 {
				request(rng, w, i)
			}
		}()
	}
	wg.Wait()
	if chk.bases.Load() == 0 {
		t.Fatal("no commit carried a Base: the test checks nothing")
	}
	t.Logf("%d commits with a Base, %d wrong; %d commits failed", chk.bases.Load(), chk.wrong.Load(), errs.Load())
}
