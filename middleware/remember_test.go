package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

func rememberEnv(t *testing.T, opts ...session.Option) *env {
	e := newEnv(t, append([]session.Option{
		session.WithRememberMe(7*24*time.Hour, 30*24*time.Hour),
		session.WithKeys(make([]byte, 32), nil),
	}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/", e.routes())
	mux.HandleFunc("/remember", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).RememberMe(r.FormValue("on") == "1")
	})
	e.h = middleware.Sessions(e.m)(mux)
	return e
}

func TestRememberMeExtendsIdleTimeoutAndLifetime(t *testing.T) {
	e := rememberEnv(t)
	start := e.clock.Now()
	remembered, plain := &client{e: e}, &client{e: e}
	remembered.do("POST", "/set?k=a&v=1")
	plain.do("POST", "/set?k=a&v=1")
	r := remembered.do("POST", "/remember?on=1")
	if r.cookie == nil || !r.cookie.Expires.Equal(start.Add(30*24*time.Hour).Truncate(time.Second)) {
		t.Fatalf("remembered cookie: %v, want it to expire with the 30-day lifetime", r.cookie)
	}

	e.clock.Advance(2 * time.Hour) // past the default 30-minute idle timeout
	if got := plain.get("/get?k=a"); got != "-" {
		t.Errorf("a plain session outlived the idle timeout: %q", got)
	}
	if got := remembered.get("/get?k=a"); got != "1" {
		t.Fatalf("a remembered session ended at the default idle timeout: %q", got)
	}
	for range 3 { // past the default 24-hour lifetime, with activity
		e.clock.Advance(20 * time.Hour)
		if got := remembered.get("/get?k=a"); got != "1" {
			t.Fatalf("a remembered session ended at %v: %q", e.clock.Now().Sub(start), got)
		}
	}
	e.clock.Advance(8 * 24 * time.Hour) // past its own idle timeout
	if got := remembered.get("/get?k=a"); got != "-" {
		t.Errorf("a remembered session outlived its 7-day idle timeout: %q", got)
	}
}

func TestForgetMeReturnsToDefaults(t *testing.T) {
	e := rememberEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	c.do("POST", "/remember?on=1")
	e.clock.Advance(20 * time.Hour)
	c.get("/get?k=a")
	e.clock.Advance(20 * time.Hour) // 40 h: past the default lifetime
	c.do("POST", "/remember?on=0")
	if got := c.get("/get?k=a"); got != "-" {
		t.Errorf("after RememberMe(false) a session older than the default lifetime lives on: %q", got)
	}
}

func TestRememberMeSurvivesRotation(t *testing.T) {
	e := rememberEnv(t, session.WithRotateEvery(time.Hour))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	c.do("POST", "/remember?on=1")
	before := c.cookie
	e.clock.Advance(2 * time.Hour)
	c.get("/get?k=a") // rotates
	if c.cookie == before {
		t.Fatal("no rotation")
	}
	e.clock.Advance(2 * time.Hour)
	if got := c.get("/get?k=a"); got != "1" {
		t.Errorf("a rotated remembered session ended at the default idle timeout: %q", got)
	}
}

func TestWithRememberMeValidates(t *testing.T) {
	for _, c := range [][2]time.Duration{{0, time.Hour}, {time.Hour, 0}, {2 * time.Hour, time.Hour}, {-time.Hour, time.Hour}} {
		if _, err := session.New(session.WithRememberMe(c[0], c[1])); err == nil {
			t.Errorf("WithRememberMe(%v, %v) accepted", c[0], c[1])
		}
	}
}
