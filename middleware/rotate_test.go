package middleware_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
)

// periodic is an env whose sessions rotate every 15 minutes with a 30-second
// grace period; rotateDue moves a session's clock past the rotation point.
func periodic(t *testing.T, opts ...session.Option) *env {
	return newEnv(t, append([]session.Option{
		session.WithRotateEvery(15 * time.Minute),
		session.WithRotateGrace(30 * time.Second),
		session.WithTouchInterval(time.Minute),
	}, opts...)...)
}

func TestPeriodicRotationForwardsDuringGrace(t *testing.T) {
	e := periodic(t)
	c := &client{e: e}
	c.do("POST", "/set?k=cart&v=apple")
	oldCookie := c.cookie

	e.clock.Advance(14 * time.Minute)
	c.get("/get?k=cart")
	if c.cookie != oldCookie {
		t.Fatal("rotated before rotate-every")
	}
	e.clock.Advance(2 * time.Minute)
	if got := c.get("/get?k=cart"); got != "apple" {
		t.Fatalf("value on the rotating request: %q", got)
	}
	if c.cookie == oldCookie {
		t.Fatal("token not rotated after rotate-every")
	}
	newCookie := c.cookie

	// During the grace period the old cookie still sees the session and is
	// handed the new one.
	e.clock.Advance(10 * time.Second)
	r := e.do("GET", "/get?k=cart", oldCookie)
	if r.body != "apple" {
		t.Fatalf("old cookie during grace: %q, want apple", r.body)
	}
	if r.cookie == nil || r.cookie.Value != newCookie {
		t.Errorf("old cookie during grace was not handed the new cookie: %v", r.cookie)
	}

	// A write through the old cookie, with no read, lands in the new session.
	r = e.do("POST", "/set?k=late&v=tab2", oldCookie)
	if r.code != http.StatusOK || r.cookie == nil || r.cookie.Value != newCookie {
		t.Fatalf("write through old cookie: %d, cookie %v", r.code, r.cookie)
	}
	if got := c.get("/get?k=late"); got != "tab2" {
		t.Fatalf("write through the old cookie lost: %q", got)
	}

	// After the grace period the old token is dead.
	e.clock.Advance(21 * time.Second)
	if r := e.do("GET", "/get?k=cart", oldCookie); r.body != "-" {
		t.Fatalf("old cookie after grace still works: %q", r.body)
	}
	if got := c.get("/get?k=cart"); got != "apple" {
		t.Fatalf("new cookie after grace: %q", got)
	}
	if c.cookie != newCookie {
		t.Error("rotated again straight away")
	}
}

func TestLoginRotationKillsPlantedToken(t *testing.T) {
	e := newEnv(t, session.WithRotateGrace(time.Minute))
	attacker := &client{e: e}
	attacker.do("POST", "/set?k=a&v=1")
	planted := attacker.cookie

	victim := &client{e: e, cookie: planted}
	victim.get("/login?u=alice")
	if victim.cookie == planted || victim.cookie == "" {
		t.Fatal("login did not rotate the token")
	}
	if got := victim.get("/get?k=a"); got != "1" {
		t.Fatalf("login lost the session's data: %q", got)
	}

	e.clock.Advance(5 * time.Second) // well within the grace period
	r := e.do("GET", "/get?k=a", planted)
	if r.body != "-" {
		t.Fatalf("planted token reads the logged-in session: %q", r.body)
	}
	if r.cookie != nil && r.cookie.Value == victim.cookie {
		t.Fatal("planted token was handed the logged-in cookie")
	}
	if r := e.do("POST", "/set?k=evil&v=1", planted); r.cookie != nil && r.cookie.Value == victim.cookie {
		t.Fatal("a write through the planted token was forwarded")
	}
	if got := victim.get("/get?k=evil"); got != "-" {
		t.Fatalf("the planted token wrote into the logged-in session: %q", got)
	}
}

func TestRotationWithoutGraceKillsOldToken(t *testing.T) {
	e := periodic(t, session.WithRotateGrace(0))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie
	e.clock.Advance(16 * time.Minute)
	c.get("/get?k=a")
	if r := e.do("GET", "/get?k=a", old); r.body != "-" {
		t.Fatalf("old token works with no grace: %q", r.body)
	}
	if got := c.get("/get?k=a"); got != "1" {
		t.Fatalf("new token: %q", got)
	}
}

// hooked runs a function before the store's Move, to hold a rotation between
// creating its new record and retiring the old one.
type hooked struct {
	store.Store
	mu         sync.Mutex
	beforeMove func()
}

func (h *hooked) Move(ctx context.Context, id string, m store.Moved, exp time.Time, v uint64) error {
	h.mu.Lock()
	f := h.beforeMove
	h.beforeMove = nil // once
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Store.Move(ctx, id, m, exp, v)
}

func (h *hooked) holdNextMove() (started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	h.mu.Lock()
	h.beforeMove = func() { close(started); <-release }
	h.mu.Unlock()
	return started, release
}

func hookedEnv(t *testing.T, opts ...session.Option) (*env, *hooked) {
	e := newEnv(t)
	h := &hooked{Store: e.store}
	m, err := session.New(append([]session.Option{session.WithStore(h), session.WithClock(e.clock.Now),
		session.WithTouchInterval(time.Minute)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.h = wrap(e, e.routes())
	return e, h
}

func TestRotationRacingCommitKeepsBoth(t *testing.T) {
	e, h := hookedEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie

	started, release := h.holdNextMove()
	done := make(chan resp)
	go func() { done <- e.do("GET", "/login?u=alice", old) }()
	<-started // the new record exists; the old one is not retired yet
	if r := e.do("POST", "/set?k=b&v=2", old); r.code != http.StatusOK {
		t.Fatalf("commit during rotation: %d", r.code)
	}
	close(release)
	login := <-done
	if login.cookie == nil || login.cookie.MaxAge < 0 {
		t.Fatalf("login: %v", login.cookie)
	}
	if r := e.do("GET", "/keys", login.cookie.Value); r.body != "a,b" {
		t.Errorf("after a rotation raced a commit the new token sees %q, want a,b", r.body)
	}
}

func TestConcurrentRotationsConverge(t *testing.T) {
	e, h := hookedEnv(t, session.WithRotateEvery(15*time.Minute))
	// Two tabs hit the rotation point together. The first is held between
	// creating its record and retiring the old one; the second rotates
	// meanwhile. The first must then join the second's token rather than
	// fork the session.
	c2 := &client{e: e}
	c2.do("POST", "/set?k=a&v=1")
	old2 := c2.cookie
	e.clock.Advance(16 * time.Minute)
	started, release := h.holdNextMove()
	r1 := make(chan resp)
	go func() { r1 <- e.do("GET", "/get?k=a", old2) }()
	<-started
	r2 := e.do("GET", "/get?k=a", old2)
	close(release)
	a := <-r1
	if a.cookie == nil || r2.cookie == nil {
		t.Fatalf("missing cookies: %v %v", a.cookie, r2.cookie)
	}
	if a.cookie.Value != r2.cookie.Value {
		t.Fatalf("concurrent rotations forked the session: %.8s… vs %.8s…", a.cookie.Value, r2.cookie.Value)
	}
	if n := e.mem.Len(); n != 2 { // the new record and the old one's tombstone
		t.Errorf("%d records after concurrent rotations; the loser's record was not discarded", n)
	}
}

func TestRotationRacingLogoutNoResurrection(t *testing.T) {
	e, h := hookedEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie

	started, release := h.holdNextMove()
	done := make(chan resp)
	go func() { done <- e.do("GET", "/login?u=alice", old) }()
	<-started
	if r := e.do("GET", "/logout", old); r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Fatalf("logout: %v", r.cookie)
	}
	close(release)
	login := <-done
	if login.cookie != nil && login.cookie.MaxAge >= 0 {
		if r := e.do("GET", "/get?k=a", login.cookie.Value); r.body != "-" {
			t.Fatalf("rotation racing logout resurrected the session: %q", r.body)
		}
	}
	// What is left are tombstones that forward nothing, until the session
	// would have expired: no live session, none indexed.
	if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
		t.Errorf("alice has sessions after the logout: %+v", infos)
	}
}

func TestLogoutThroughOldCookieDuringGrace(t *testing.T) {
	e := periodic(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie
	e.clock.Advance(16 * time.Minute)
	c.get("/get?k=a") // rotates; old forwards for 30 s
	if c.cookie == old {
		t.Fatal("no rotation")
	}
	// Another tab, still holding the old cookie, logs out without reading.
	if r := e.do("GET", "/logout", old); r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Fatalf("logout: %v", r.cookie)
	}
	if got := c.do("GET", "/get?k=a"); got.body != "-" {
		t.Fatalf("logout through the old cookie left the rotated session alive: %q", got.body)
	}
}

// rotatedTimes starts a session holding a=1 on an env that rotates every
// second and forwards for an hour, and rotates it n times through c's reads:
// old is the first token, c.cookie the newest, n forwards ahead of it.
func rotatedTimes(t *testing.T, n int) (e *env, c *client, old string) {
	t.Helper()
	e = periodic(t, session.WithRotateEvery(time.Second), session.WithRotateGrace(time.Hour),
		session.WithTouchInterval(time.Second))
	c = &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old = c.cookie
	for range n {
		e.clock.Advance(2 * time.Second)
		c.get("/get?k=a")
	}
	return e, c, old
}

func TestManyRotationsWithinGrace(t *testing.T) {
	e, _, old := rotatedTimes(t, 6)
	// A chain longer than the forwarding bound reads as ended, never as an
	// outage.
	if r := e.do("POST", "/set?k=b&v=2", old); r.code != http.StatusOK {
		t.Fatalf("write through a long-rotated token: %d", r.code)
	}
	if r := e.do("GET", "/get?k=a", old); r.code != http.StatusOK {
		t.Fatalf("read through a long-rotated token: %d", r.code)
	}
}

// TestLateLoginRefusesItsChanges: a login whose new cookie cannot reach the
// client (the headers went out, or the connection was hijacked, as a
// WebSocket login does) leaves nothing of the login under the old token,
// which an attacker may have planted: the request's changes are dropped,
// those made after a hijack too, and the old token's session is ended, since
// what the request saved before its headers went out (a user id set before a
// Flush) is already there. Found by two reviews: first only the user id was
// dropped, then a login set before the Flush stayed on the planted token.
func TestLateLoginRefusesItsChanges(t *testing.T) {
	for _, how := range []string{"flush", "hijack", "set-before-flush"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			mux := http.NewServeMux()
			mux.Handle("/", e.routes())
			mux.HandleFunc("/latelogin", func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r.Context())
				switch how {
				case "flush":
					io.WriteString(w, "welcome ")
					http.NewResponseController(w).Flush()
					s.Rotate()
					s.Set("role", "admin")
					s.SetUserID("alice")
				case "set-before-flush":
					s.SetUserID("alice")
					s.Set("role", "admin")
					io.WriteString(w, "welcome ")
					http.NewResponseController(w).Flush()
					s.Rotate()
				case "hijack":
					s.Rotate()
					conn, buf, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					defer conn.Close()
					// Authenticated over the upgraded connection.
					s.Set("role", "admin")
					s.SetUserID("alice")
					buf.WriteString("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
					buf.Flush()
				}
			})
			e.h = wrap(e, mux)
			c := &client{e: e}
			c.do("POST", "/set?k=a&v=1")
			planted := c.cookie
			srv := httptest.NewServer(e.h)
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+"/latelogin", nil)
			req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: planted})
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
				t.Fatal("a login after the headers left a session of alice's under the un-rotated token")
			}
			for _, k := range []string{"role", "a"} {
				if r := e.do("GET", "/get?k="+k, planted); r.body != "-" {
					t.Errorf("the old token still reads %s = %q after a login it could not rotate", k, r.body)
				}
			}
			if !strings.Contains(e.logs.String(), "login refused: Rotate was called after the response headers were sent") {
				t.Errorf("refused login not logged: %s", e.logs.String())
			}
		})
	}
}

func TestRememberMeSurvivesForwarding(t *testing.T) {
	e := periodic(t)
	mux := http.NewServeMux()
	mux.Handle("/", e.routes())
	mux.HandleFunc("/forget", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).RememberMe(false)
	})
	e.h = wrap(e, mux)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	if r := c.do("GET", "/forget"); r.cookie == nil || r.cookie.MaxAge != 0 {
		t.Fatalf("RememberMe(false): %v", r.cookie)
	}
	old := c.cookie
	e.clock.Advance(16 * time.Minute)
	c.get("/get?k=a") // rotates
	r := e.do("POST", "/set?k=b&v=2", old)
	if r.cookie == nil || r.cookie.MaxAge != 0 || !r.cookie.Expires.IsZero() {
		t.Fatalf("forwarded cookie became persistent: %v", r.cookie)
	}
}
