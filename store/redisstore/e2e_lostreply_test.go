package redisstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/redisstore"
	"github.com/tether-go/tether/store/storetest"
)

// rotationApp is an application on st with a manual clock and periodic
// rotation every minute: /set stores n=5, /login rotates and sets the user
// alice, /read answers "user n". do sends a request with a cookie and
// returns the response and the cookie the browser keeps.
func rotationApp(t *testing.T, st *redisstore.Store) (clk *storetest.Clock, do func(*http.Cookie, string) (*httptest.ResponseRecorder, *http.Cookie)) {
	t.Helper()
	clk = storetest.NewClock(time.Now())
	m, err := session.New(session.WithStore(st), session.WithClock(clk.Now), session.WithRotateEvery(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("n", 5)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Rotate()
		s.SetUserID("alice")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "n")
		fmt.Fprintf(w, "%s %d", s.UserID(), n)
	})
	h := middleware.Sessions(m)(mux)
	return clk, func(cookie *http.Cookie, path string) (*httptest.ResponseRecorder, *http.Cookie) {
		req := httptest.NewRequest("GET", path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for _, c := range rec.Result().Cookies() {
			cookie = c
		}
		return rec, cookie
	}
}

// DeleteUser's pipeline reached Redis but its reply was lost: go-redis resends
// it, and the resent scripts find the sessions already ended. Each recognises
// the tombstone its own call left, so the count is still that of the sessions
// ended, and the second run changes nothing.
func TestDeleteUserReplyLost(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	s := newStore(t, newClient(t, p.Addr()))
	user := "lost" + randHex(4)
	ids := []string{newID(), newID()}
	for _, id := range ids {
		create(t, s, id, user)
	}
	// Load the script first: the reply to lose is the one of a run, not a
	// NOSCRIPT.
	warm := newID()
	create(t, s, warm, "warm"+user)
	if n, err := s.DeleteUser(t.Context(), "warm"+user); n != 1 || err != nil {
		t.Fatalf("DeleteUser = %d, %v", n, err)
	}
	p.LoseReplyTo(redisstore.DeleteUserScriptHash())
	n, err := s.DeleteUser(t.Context(), user)
	if p.Lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1 (DeleteUser's)", p.Lost())
	}
	if n != len(ids) || err != nil {
		t.Errorf("DeleteUser with its reply lost = %d, %v; want %d, nil", n, err, len(ids))
	}
	for _, id := range ids {
		if rec, err := s.Load(t.Context(), id); err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != id || rec.Version != 2 {
			t.Errorf("after DeleteUser: %+v, %v; want a tombstone to itself at version 2", rec, err)
		}
	}
	// Another call does not take the tombstones for its own.
	if n, err := s.DeleteUser(t.Context(), user); n != 0 || err != nil {
		t.Errorf("a second DeleteUser = %d, %v; want 0", n, err)
	}
}

// Issue 12.4 end to end, periodic rotation: a rotation whose Move reached
// Redis but whose reply was lost. go-redis resends the Move, the store
// recognises its own tombstone, and the session goes on under the new
// cookie.
func TestPeriodicRotationReplyLost(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	clk, do := rotationApp(t, newStore(t, newClient(t, p.Addr())))
	_, cookie := do(nil, "/set")
	_, cookie = do(cookie, "/login")
	clk.Advance(2 * time.Minute)
	p.LoseReplyTo(redisstore.MoveScriptHash())
	rec, rotated := do(cookie, "/read")
	if p.Lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1 (the rotation's Move)", p.Lost())
	}
	if rec.Code != http.StatusOK || rec.Body.String() != "alice 5" || rotated.MaxAge < 0 || rotated.Value == cookie.Value {
		t.Fatalf("read rotating with a lost Move reply: %d %q, cookie %v; want 200, alice 5, a new cookie", rec.Code, rec.Body.String(), rotated)
	}
	if rec, _ := do(rotated, "/read"); rec.Body.String() != "alice 5" {
		t.Errorf("after the rotation: %q, want \"alice 5\"", rec.Body.String())
	}
}
