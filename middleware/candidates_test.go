package middleware_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

// withCookies sends a request with several cookies of the session's name, in
// order, as a browser does with a parent domain's or a longer path's.
func (e *env) withCookies(method, target string, tokens ...string) resp {
	e.t.Helper()
	req := newRequest(method, target)
	for _, tok := range tokens {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: tok})
	}
	return e.serve(req)
}

// TestRotatedAwayCookieFirst: a cookie whose session a login rotated away,
// sent before the cookie that login issued (a parent domain's, planted by a
// sibling subdomain or left over), must not hide the login's session: its
// writes, read or not first, are saved, and its reads extend its idle
// deadline. Found by a review: every write was dropped behind a 200, and an
// active user was logged out after the idle timeout.
func TestRotatedAwayCookieFirst(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	pre := c.cookie
	c.do("POST", "/login?u=alice")
	post := c.cookie
	if post == "" || post == pre {
		t.Fatal("login did not rotate")
	}
	if r := e.withCookies("GET", "/get?k=a", pre, post); r.body != "1" {
		t.Fatalf("read with the rotated-away cookie first: %q, want the live session's 1", r.body)
	}
	// Write-only (the session is never loaded) and read-then-write.
	if r := e.withCookies("POST", "/set?k=w&v=2", pre, post); r.code != http.StatusOK || r.cookie != nil {
		t.Fatalf("write-only: %d, cookie %v", r.code, r.cookie)
	}
	if got := c.get("/get?k=w"); got != "2" {
		t.Errorf("write-only with the rotated-away cookie first was dropped: w = %q", got)
	}
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Set("cart", s.UserID()+"'s book")
	}))
	if r := e.withCookies("POST", "/cart", pre, post); r.code != http.StatusOK {
		t.Fatal(r.code)
	}
	e.h = wrap(e, e.routes())
	if got := c.get("/get?k=cart"); got != "alice's book" {
		t.Errorf("read-then-write with the rotated-away cookie first was dropped: cart = %q", got)
	}
	// Active every 10 minutes for an hour, past the 30-minute idle timeout.
	for i := range 6 {
		e.clock.Advance(10 * time.Minute)
		if r := e.withCookies("GET", "/get?k=a", pre, post); r.body != "1" {
			t.Fatalf("after %d minutes of activity: a = %q, logged out", (i+1)*10, r.body)
		}
	}
}

// TestEndedCookieFirstNoNewSession: a write-only request whose first cookie's
// session was destroyed, and whose other cookie is dead too, is dropped as
// the first one's tombstone says: moving on to the next cookie must not turn
// into a new session holding the write (what a logout's tombstone prevents).
func TestEndedCookieFirstNoNewSession(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	gone := c.cookie
	c.do("POST", "/logout")
	r := e.withCookies("POST", "/set?k=draft&v=secret", gone, unknownToken())
	if r.cookie != nil && r.cookie.MaxAge >= 0 {
		t.Fatalf("a write on a destroyed session started a new one: %v", r.cookie)
	}
	if n := e.mem.Len(); n != 1 {
		t.Errorf("store holds %d records, want only the logout's tombstone", n)
	}
}

// TestLogoutBehindRotatedAwayCookie: a logout that never read the session,
// with a rotated-away cookie before the live one, ends the live session, the
// one the request is in. Found by a review: it ended only the first cookie's
// (already ended) session, and a stolen live token kept working.
func TestLogoutBehindRotatedAwayCookie(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	pre := c.cookie
	c.do("POST", "/login?u=alice")
	post := c.cookie
	if r := e.withCookies("POST", "/logout", pre, post); r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %v", r.cookie)
	}
	if got := e.do("GET", "/get?k=a", post).body; got != "-" {
		t.Errorf("after logout the live session's token still reads a = %q", got)
	}
	if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
		t.Errorf("after logout alice still has %d live sessions", len(infos))
	}
}

// TestRotatedAwayCookieFirstOtherSessionGetsNothing: a request made with a
// session that a login (in another tab) rotated away meanwhile drops its
// changes, as DESIGN says, also when another live cookie of our name came
// after it (tossed in by a sibling subdomain): only the login's own cookie
// may take them. Found by a review of the fix that let the login's own
// cookie take them.
func TestRotatedAwayCookieFirstOtherSessionGetsNothing(t *testing.T) {
	for _, read := range []bool{false, true} {
		e := newEnv(t)
		victim := &client{e: e}
		victim.do("POST", "/set?k=a&v=1")
		v := victim.cookie
		victim.do("POST", "/login?u=alice") // rotates v away
		attacker := &client{e: e}
		attacker.do("POST", "/set?k=x&v=y")
		e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			if read {
				session.Get[string](s, "a")
			}
			s.Set("card", "4111")
		}))
		r := e.withCookies("POST", "/pay", v, attacker.cookie)
		e.h = wrap(e, e.routes())
		if got := attacker.get("/get?k=card"); got != "-" {
			t.Errorf("read first %v: the victim's write went to the other cookie's session: card = %q", read, got)
		}
		if r.cookie != nil && r.cookie.Value == attacker.cookie {
			t.Errorf("read first %v: the response hands out the other cookie's token: %v", read, r.cookie)
		}
	}
}

// TestDeadForwardThenOtherCookie: a first cookie that forwards (a periodic
// rotation) to a session that then ended, and another live cookie after it:
// the response must not hand out the other cookie's token as the session
// cookie, as it would the forward's. Found by a review.
func TestDeadForwardThenOtherCookie(t *testing.T) {
	e := newEnv(t, session.WithRotateEvery(time.Minute), session.WithRotateGrace(time.Minute))
	victim := &client{e: e}
	victim.do("POST", "/set?k=a&v=1")
	victim.do("POST", "/login?u=alice")
	v := victim.cookie
	e.clock.Advance(2 * time.Minute)
	if r := e.do("GET", "/get?k=a", v); r.cookie == nil {
		t.Fatal("no periodic rotation")
	}
	if _, err := e.m.DestroyUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	other := &client{e: e}
	other.do("POST", "/set?k=a&v=2")
	if r := e.withCookies("GET", "/get?k=a", v, other.cookie); r.cookie != nil && r.cookie.Value == other.cookie {
		t.Errorf("the response hands out the other cookie's token: %v", r.cookie)
	}
}

// unknownToken returns a well-formed token that names no session.
func unknownToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// A write-only request whose first cookies name no session (a parent
// domain's, a longer path's) and whose last one rotated twice within the
// grace period: a read follows that two-hop forward, and so must the write.
// The write path counted the dead cookies it moved past as forward hops and
// dropped the write ("rotated away") behind a 200.
func TestDeadCookiesThenAChainedForward(t *testing.T) {
	e, c, old := rotatedTimes(t, 2)
	if c.cookie == old {
		t.Fatal("no rotation")
	}
	if r := e.withCookies("GET", "/get?k=a", unknownToken(), unknownToken(), old); r.body != "1" {
		t.Fatalf("read through two dead cookies and a two-hop forward: %q, want 1", r.body)
	}
	if r := e.withCookies("POST", "/set?k=w&v=2", unknownToken(), unknownToken(), old); r.code != http.StatusOK {
		t.Fatalf("write: %d", r.code)
	}
	if got := c.get("/get?k=w"); got != "2" {
		t.Errorf("a write through two dead cookies and a two-hop forward was dropped: w = %q", got)
	}
}

// A stale cookie (a parent domain's) more rotations behind than a request
// follows, sent before the client's current cookie of the same session. A
// read gives up on the stale one and moves on to the current cookie, and so
// must a write: it dropped its write ("rotated away") behind a 200 and
// expired the client's current cookie, logging the user out. From a review.
func TestLongChainThenCurrentCookie(t *testing.T) {
	e, c, old := rotatedTimes(t, 4)
	if r := e.withCookies("GET", "/get?k=a", old, c.cookie); r.body != "1" {
		t.Fatalf("read: %q, want 1", r.body)
	}
	r := e.withCookies("POST", "/set?k=w&v=2", old, c.cookie)
	if r.code != http.StatusOK {
		t.Fatalf("write: %d", r.code)
	}
	if r.cookie != nil && r.cookie.MaxAge < 0 {
		t.Errorf("the write-only request expired the client's cookie: %v", r.cookie)
	}
	if got := c.get("/get?k=w"); got != "2" {
		t.Errorf("a write with a stale cookie before the current one was dropped: w = %q", got)
	}
}
