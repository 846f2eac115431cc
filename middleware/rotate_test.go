package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

func TestRotationWithGrace(t *testing.T) {
	e := newEnv(t, session.WithRotateGrace(30*time.Second))
	c := &client{e: e}
	c.do("POST", "/set?k=cart&v=apple")
	oldCookie := c.cookie

	r := c.do("GET", "/login?u=alice")
	if r.cookie == nil || r.cookie.Value == oldCookie {
		t.Fatalf("login did not rotate the token: %v", r.cookie)
	}
	newCookie := c.cookie
	if got := c.get("/get?k=cart"); got != "apple" {
		t.Fatalf("rotation lost data: %q", got)
	}

	// During the grace period the old cookie still sees the session and is
	// handed the new one.
	e.clock.Advance(10 * time.Second)
	r = e.do("GET", "/get?k=cart", oldCookie)
	if r.body != "apple" {
		t.Fatalf("old cookie during grace: %q, want apple", r.body)
	}
	if r.cookie == nil || r.cookie.Value != newCookie {
		t.Errorf("old cookie during grace was not handed the new cookie: %v", r.cookie)
	}

	// A write through the old cookie lands in the new session.
	r = e.do("POST", "/set?k=late&v=tab2", oldCookie)
	if r.code != http.StatusOK {
		t.Fatalf("write through old cookie: %d", r.code)
	}
	if r.cookie == nil || r.cookie.Value != newCookie {
		t.Errorf("write through old cookie was not handed the new cookie: %v", r.cookie)
	}
	if got := c.get("/get?k=late"); got != "tab2" {
		t.Fatalf("write through the old cookie lost: %q", got)
	}

	// After the grace period the old token is dead.
	e.clock.Advance(21 * time.Second)
	r = e.do("GET", "/get?k=cart", oldCookie)
	if r.body != "-" {
		t.Fatalf("old cookie after grace still works: %q", r.body)
	}
	if got := c.get("/get?k=cart"); got != "apple" {
		t.Fatalf("new cookie after grace: %q", got)
	}
}

func TestRotationWithoutGraceKillsOldToken(t *testing.T) {
	e := newEnv(t, session.WithRotateGrace(0))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie
	c.get("/rotate")
	if r := e.do("GET", "/get?k=a", old); r.body != "-" {
		t.Fatalf("old token works with no grace: %q", r.body)
	}
	if got := c.get("/get?k=a"); got != "1" {
		t.Fatalf("new token: %q", got)
	}
}

func TestPeriodicRotation(t *testing.T) {
	e := newEnv(t, session.WithRotateEvery(15*time.Minute), session.WithTouchInterval(time.Minute))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	first := c.cookie
	e.clock.Advance(14 * time.Minute)
	c.get("/get?k=a")
	if c.cookie != first {
		t.Fatal("rotated before rotate-every")
	}
	e.clock.Advance(2 * time.Minute)
	if got := c.get("/get?k=a"); got != "1" {
		t.Fatalf("value after periodic rotation: %q", got)
	}
	if c.cookie == first {
		t.Fatal("token not rotated after rotate-every")
	}
	second := c.cookie
	c.get("/get?k=a")
	if c.cookie != second {
		t.Error("rotated again straight away")
	}
}

func TestConcurrentRotationsConverge(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie
	// Tabs sending the old cookie after a login are forwarded to the login's
	// token, not forked into sessions of their own.
	r1 := e.do("GET", "/login?u=alice", old)
	r2 := e.do("POST", "/set?k=b&v=2", old)
	if r1.cookie == nil || r2.cookie == nil || r2.cookie.Value != r1.cookie.Value {
		t.Fatalf("write through the old cookie was not forwarded to the login's token: %v %v", r1.cookie, r2.cookie)
	}
	// A second rotation through the old cookie rotates the forwarded session;
	// every token seen so far still reaches the same data during the grace.
	r3 := e.do("GET", "/rotate", old)
	if r3.cookie == nil || r3.cookie.MaxAge < 0 || r3.cookie.Value == r1.cookie.Value {
		t.Fatalf("rotation through the old cookie: %v", r3.cookie)
	}
	for _, ck := range []string{old, r1.cookie.Value, r3.cookie.Value} {
		if r := e.do("GET", "/keys", ck); r.body != "a,b" {
			t.Errorf("token %.8s… sees keys %q, want a,b", ck, r.body)
		}
	}
	infos, err := e.m.UserSessions(t.Context(), "alice")
	if err != nil || len(infos) != 1 {
		t.Errorf("alice has %d sessions (%v), want exactly 1", len(infos), err)
	}
}

func TestDestroyRacingSlowRequestNoResurrection(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=x&v=secret")
	cookie := c.cookie

	done := make(chan resp)
	go func() { done <- e.do("GET", "/slow", cookie) }()
	<-e.slowStarted // the slow request has loaded the session

	if r := e.do("GET", "/logout", cookie); r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Fatalf("logout did not expire the cookie: %v", r.cookie)
	}
	close(e.slowRelease) // the slow request now writes and commits
	slow := <-done
	if slow.code != http.StatusOK {
		t.Fatalf("slow request: %d", slow.code)
	}
	if slow.cookie != nil && slow.cookie.MaxAge >= 0 {
		t.Errorf("slow request handed out a live cookie after logout: %v", slow.cookie)
	}
	if r := e.do("GET", "/get?k=x", cookie); r.body != "-" {
		t.Fatalf("session resurrected: x = %q", r.body)
	}
	if r := e.do("GET", "/get?k=late", cookie); r.body != "-" {
		t.Fatalf("late write resurrected the session: %q", r.body)
	}
	if e.mem.Len() != 0 {
		t.Errorf("memory store holds %d records after logout, want 0", e.mem.Len())
	}
}

func TestDestroyThenSetStartsFreshSession(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Destroy()
		s.Set("fresh", "yes")
	})
	_ = mux
	c := &client{e: e}
	c.do("POST", "/set?k=old&v=1")
	old := c.cookie
	e.h = wrap(e, mux)
	r := c.do("GET", "/")
	if r.cookie == nil || r.cookie.MaxAge < 0 || r.cookie.Value == old {
		t.Fatalf("destroy+set: cookie %v, want a new live cookie", r.cookie)
	}
	e.h = wrap(e, e.routes())
	if got := c.get("/get?k=fresh"); got != "yes" {
		t.Errorf("fresh = %q", got)
	}
	if got := c.get("/get?k=old"); got != "-" {
		t.Errorf("old data carried into the new session: %q", got)
	}
}
