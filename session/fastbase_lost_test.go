package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// noBase hands the store every commit without its Base: the slow path.
type noBase struct{ store.Store }

func (n noBase) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	c.Base = nil
	return n.Store.Commit(ctx, id, c)
}

// TestFastCommitAfterLostWrite (redisstore) through the session manager:
// requests of one session on two nodes, in one millisecond (the clock is
// frozen here; the session manager's times are the request's millisecond),
// around a failover that loses an acknowledged write. The request that
// loaded the lost record commits with it as its Base; the record written
// after the failover must keep its value while the lost one stays lost.
//
// With rotate, the same request then rotates (found by a review): with
// versions that went up by one, its commit applied on the record written
// after the failover, whose version was the lost one's, so the result was
// Base.Version+1 and the session kept the lost record as what is stored;
// the rotation copied the lost values into the new record and its Move's
// version check passed. Redis versions now step by random amounts, and the
// session asks the result which version its commit applied to
// (store.Result.Before).
func TestFastCommitAfterLostWrite(t *testing.T) {
	for _, tc := range []struct{ fast, rotate bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		fast := tc.fast
		name := "slow"
		if fast {
			name = "fast"
		}
		if tc.rotate {
			name += "+rotate"
		}
		t.Run(name, func(t *testing.T) {
			rdb := testserver.Redis(t)
			client := redis.NewClient(&redis.Options{Addr: rdb.Addr(), ContextTimeoutEnabled: true})
			t.Cleanup(func() { client.Close() })
			st := redisstore.New(client)
			t.Cleanup(func() { st.Close() })
			var used store.Store = st
			if !fast {
				used = noBase{st}
			}
			now := time.Now()
			m, err := session.New(session.WithStore(used), session.WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })

			begin := func(ck *http.Cookie) *session.Session {
				req := httptest.NewRequest("GET", "/", nil)
				if ck != nil {
					req.AddCookie(ck)
				}
				return m.Begin(req)
			}
			commit := func(s *session.Session) http.Header {
				h := http.Header{}
				if err := s.Commit(h); err != nil {
					t.Fatal(err)
				}
				return h
			}
			s := begin(nil)
			s.Set("n", 0)
			h := commit(s)
			ck := (&http.Response{Header: h}).Cookies()[0]
			key := redisstore.DefaultPrefix + "s:" + s.ID()
			ctx := t.Context()
			snapshot := client.Dump(ctx, key).Val() // the replica's copy
			pttl := client.PTTL(ctx, key).Val()

			// Node A: acknowledged by the primary, never replicated.
			a := begin(ck)
			session.Get[int](a, "n")
			a.Set("lost", 1)
			commit(a)
			// Node B loads the session now.
			b := begin(ck)
			session.Get[int](b, "n")

			// Failover.
			if err := client.RestoreReplace(ctx, key, pttl, snapshot).Err(); err != nil {
				t.Fatal(err)
			}
			// Node C writes after it.
			c := begin(ck)
			session.Get[int](c, "n")
			c.Set("kept", 1)
			commit(c)

			// Node B commits, and maybe rotates.
			b.Set("n", 5)
			h = commit(b)
			if tc.rotate {
				b.Rotate()
				h = commit(b)
			}
			if cks := (&http.Response{Header: h}).Cookies(); len(cks) > 0 {
				ck = cks[0]
			}

			r := begin(ck)
			if _, ok := session.Get[int](r, "kept"); !ok {
				t.Errorf("the write made after the failover is gone: keys %v", r.Keys())
			}
			if _, ok := session.Get[int](r, "lost"); ok {
				t.Errorf("the write the failover lost came back: keys %v", r.Keys())
			}
		})
	}
}
