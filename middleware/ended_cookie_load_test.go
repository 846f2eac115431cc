package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-go/tether/session"
)

// A write-only request that also calls RememberMe is loaded at its commit;
// a logout of its cookie's session lands meanwhile. The load must not move
// on past the ended cookie to a tossed one as a read does: the victim's
// write, and a persistent cookie with the attacker's token, went there (a
// review of ff13f38).
func TestRememberMeWriteOnlyAfterLogoutStaysOutOfTossedCookie(t *testing.T) {
	e := newEnv(t)
	v, attacker, logoutVictim := tossedCookie(e, "/login?u=alice")
	routes := e.h
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Set("card", "4111")
		s.RememberMe(true)
		// The victim's logout (another tab) lands while this request runs.
		logoutVictim()
	}))
	r := e.withCookies("POST", "/pay", v, attacker.cookie)
	e.h = routes
	if got := attacker.get("/get?k=card"); got != "-" {
		t.Errorf("a write-only request with RememberMe, overtaken by a logout, saved its write in the tossed cookie's session: card = %q", got)
	}
	if r.cookie != nil && r.cookie.Value == attacker.cookie {
		t.Errorf("the response hands out the tossed cookie's token: %v", r.cookie)
	}
}

// The same load-at-commit path for a login (Rotate) that a logout overtakes:
// the login must not be built on the tossed cookie's session, inheriting the
// attacker's values (x=y) (a review).
func TestLoginWriteOnlyAfterLogoutStaysOffTossedCookie(t *testing.T) {
	e := newEnv(t)
	v, attacker, logoutVictim := tossedCookie(e, "/set?k=a&v=1")
	routes := e.h
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetUserID("alice")
		s.Rotate()
		logoutVictim()
	}))
	r := e.withCookies("POST", "/login", v, attacker.cookie)
	e.h = routes
	if r.cookie == nil || r.cookie.MaxAge < 0 {
		return // the login dropped: nothing built on the tossed session either
	}
	if got := e.do("GET", "/get?k=x", r.cookie.Value).body; got == "y" {
		t.Errorf("the victim's login, overtaken by a logout, was built on the tossed cookie's session: x = %q", got)
	}
}

// A read after a write, with the victim's logout between them: the read
// does not move on past the ended cookie to the tossed one, so neither the
// write nor the attacker's values meet in one session.
func TestReadAfterWriteAfterLogoutStaysOffTossedCookie(t *testing.T) {
	e := newEnv(t)
	v, attacker, logoutVictim := tossedCookie(e, "/login?u=alice")
	routes := e.h
	var read string
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Set("card", "4111")
		logoutVictim()
		read, _ = session.Get[string](s, "x")
	}))
	e.withCookies("POST", "/pay", v, attacker.cookie)
	e.h = routes
	if read == "y" {
		t.Error("a read after the request's own write, overtaken by a logout, read the tossed cookie's session")
	}
	if got := attacker.get("/get?k=card"); got != "-" {
		t.Errorf("the write went to the tossed cookie's session: card = %q", got)
	}
}

// tossedCookie starts the victim's session with the request at path (a
// login, or a plain write) and the attacker's (x=y), whose cookie a sibling
// domain tosses in after the victim's. logoutVictim logs the victim's cookie
// out through e's routes, as another tab of the victim would.
func tossedCookie(e *env, path string) (v string, attacker *client, logoutVictim func()) {
	victim := &client{e: e}
	victim.do("POST", path)
	attacker = &client{e: e}
	attacker.do("POST", "/set?k=x&v=y")
	routes := e.h
	return victim.cookie, attacker, func() {
		req := newRequest("POST", "/logout")
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: victim.cookie})
		routes.ServeHTTP(httptest.NewRecorder(), req)
	}
}
