package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

// The victim logs out (or an admin runs DestroyUser after a compromise)
// while a write-only request of another tab is in flight, and a sibling
// subdomain tossed the attacker's cookie after the victim's: the victim's
// write is dropped (logout wins), not saved in the attacker's session, as
// for a login's tombstone (TestRotatedAwayCookieFirstOtherSessionGetsNothing).
// fdf022b moved such a write on to the next cookie; a review found it.
func TestLogoutInFlightWriteStaysOutOfTossedCookie(t *testing.T) {
	for _, how := range []string{"logout", "DestroyUser"} {
		t.Run(how, func(t *testing.T) {
			e, p, _ := probeEnv(t, 0)
			v, attacker, logoutVictim := tossedCookie(e, "/login?u=alice")
			// The logout lands just before the in-flight request's commit.
			routes := e.h
			p.before("update", "", func() {
				if how == "logout" {
					logoutVictim()
				} else if _, err := e.m.DestroyUser(t.Context(), "alice"); err != nil {
					t.Error(err)
				}
			})
			e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				session.From(r.Context()).Set("card", "4111")
			}))
			r := e.withCookies("POST", "/pay", v, attacker.cookie)
			e.h = routes
			if got := attacker.get("/get?k=card"); got != "-" {
				t.Errorf("the victim's in-flight write, overtaken by a %s, went to the tossed cookie's session: card = %q", how, got)
			}
			if r.cookie != nil && r.cookie.Value == attacker.cookie {
				t.Errorf("the response hands out the tossed cookie's token: %v", r.cookie)
			}
		})
	}
}

// Orders of ended, forwarding and live cookies for a write-only request.
// Whichever cookie meets an ended session first decides: the write is
// dropped, the cookies are left alone (a live one among them is not logged
// out), and no session is made.

// A cookie that forwards (periodic rotation) to a session a logout ended,
// then the client's live cookie.
func TestForwardToEndedThenLive(t *testing.T) {
	e := newEnv(t, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
	old := &client{e: e}
	old.do("POST", "/set?k=a&v=1")
	t1 := old.cookie
	e.clock.Advance(16 * time.Minute)
	old.get("/get?k=a") // rotates t1 -> t2
	if old.cookie == t1 {
		t.Fatal("no rotation")
	}
	old.do("POST", "/logout") // ends t2
	cur := &client{e: e}
	cur.do("POST", "/set?k=a&v=2")
	r := e.withCookies("POST", "/set?k=w&v=3", t1, cur.cookie)
	if r.code != http.StatusOK {
		t.Fatal(r.code)
	}
	if r.cookie != nil {
		t.Errorf("response sets a cookie: %v", r.cookie)
	}
	if got := cur.get("/get?k=w"); got != "-" {
		t.Errorf("w = %q, want the write dropped", got)
	}
	if got := cur.get("/get?k=a"); got != "2" {
		t.Errorf("the live session: a = %q, want 2", got)
	}
}

// Never-issued, ended, then live.
func TestDeadEndedLive(t *testing.T) {
	e := newEnv(t)
	gone := &client{e: e}
	gone.do("POST", "/set?k=a&v=1")
	g := gone.cookie
	gone.do("POST", "/logout")
	cur := &client{e: e}
	cur.do("POST", "/set?k=a&v=2")
	r := e.withCookies("POST", "/set?k=w&v=3", unknownToken(), g, cur.cookie)
	if r.cookie != nil {
		t.Errorf("response sets a cookie: %v", r.cookie)
	}
	if got := cur.get("/get?k=w"); got != "-" {
		t.Errorf("w = %q, want the write dropped", got)
	}
}

// Ended, then an older token of the same (ended) session that forwards to
// it: dropped, no new session, no new cookie.
func TestEndedThenOwnOlderToken(t *testing.T) {
	e := newEnv(t, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	t1 := c.cookie
	e.clock.Advance(16 * time.Minute)
	c.get("/get?k=a")
	t2 := c.cookie
	c.do("POST", "/logout")
	before := e.mem.Len()
	r := e.withCookies("POST", "/set?k=w&v=3", t2, t1)
	if r.cookie != nil && r.cookie.MaxAge >= 0 {
		t.Errorf("a cookie for a session: %v", r.cookie)
	}
	if n := e.mem.Len(); n != before {
		t.Errorf("store records %d -> %d: a new session was made", before, n)
	}
}

// Three ended cookies (maxCandidates): the loop ends, nothing is created.
func TestAllEnded(t *testing.T) {
	e := newEnv(t)
	var toks []string
	for range 3 {
		c := &client{e: e}
		c.do("POST", "/set?k=a&v=1")
		toks = append(toks, c.cookie)
		c.do("POST", "/logout")
	}
	before := e.mem.Len()
	r := e.withCookies("POST", "/set?k=w&v=3", toks...)
	if r.code != http.StatusOK {
		t.Fatal(r.code)
	}
	if n := e.mem.Len(); n != before {
		t.Errorf("store records %d -> %d: a new session was made", before, n)
	}
}
