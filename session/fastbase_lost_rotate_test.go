package session_test

import (
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

// TestFastCommitAfterLostWrite, continued in the request that committed
// with the lost record as its Base (found by a review). With versions that
// go up by one, its commit (fast or slow) applied on the record written
// after the failover, whose version was the lost one's, so the result was
// Base.Version+1 and the session kept the lost record as what is stored; a
// rotation in the same request then copied the lost values into the new
// record and moved the old one away (its Move's version matched): the
// write made after the failover was gone and the lost one back. Redis
// versions now step by random amounts, and the session asks the result
// which version its commit applied to (store.Result.Before).
func TestLostWriteThenRotateInSameRequest(t *testing.T) {
	for _, fast := range []bool{false, true} {
		name := "slow"
		if fast {
			name = "fast"
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
			snapshot := client.Dump(ctx, key).Val()
			pttl := client.PTTL(ctx, key).Val()

			a := begin(ck)
			session.Get[int](a, "n")
			a.Set("lost", 1)
			commit(a)
			b := begin(ck)
			session.Get[int](b, "n")
			if err := client.RestoreReplace(ctx, key, pttl, snapshot).Err(); err != nil {
				t.Fatal(err)
			}
			c := begin(ck)
			session.Get[int](c, "n")
			c.Set("kept", 1)
			commit(c)

			b.Set("n", 5)
			commit(b)
			_, sawKept := session.Get[int](b, "kept")
			_, sawLost := session.Get[int](b, "lost")
			b.Rotate()
			h = commit(b)
			if cks := (&http.Response{Header: h}).Cookies(); len(cks) > 0 {
				ck = cks[0]
			}
			r := begin(ck)
			if _, ok := session.Get[int](r, "kept"); !ok {
				t.Errorf("the write made after the failover is gone after the rotation: keys %v (request saw kept=%v lost=%v after its commit)", r.Keys(), sawKept, sawLost)
			}
			if _, ok := session.Get[int](r, "lost"); ok {
				t.Errorf("the write the failover lost came back through the rotation: keys %v", r.Keys())
			}
		})
	}
}
