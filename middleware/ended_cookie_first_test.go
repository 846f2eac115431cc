package middleware_test

import (
	"net/http"
	"testing"
)

// A stale cookie (a parent domain's) whose session DestroyUser or a logout
// ended, sent before the client's current, live cookie. A read moves on to
// the live cookie. A write-only request cannot tell this stale cookie from
// one whose session a logout ended while it ran, whose write must not move
// to another cookie's session (TestLogoutInFlightWriteStaysOutOfTossedCookie):
// it drops its write (reported), and leaves the cookies alone. It used to
// expire the current cookie as well, logging the user out.
func TestEndedCookieFirstThenLiveCookie(t *testing.T) {
	for _, how := range []string{"DestroyUser", "logout"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			stale := &client{e: e}
			stale.do("POST", "/login?u=alice")
			stale.do("POST", "/set?k=a&v=1")
			old := stale.cookie
			if how == "DestroyUser" {
				if _, err := e.m.DestroyUser(t.Context(), "alice"); err != nil {
					t.Fatal(err)
				}
			} else {
				stale.do("POST", "/logout")
			}
			cur := &client{e: e}
			cur.do("POST", "/login?u=alice")
			cur.do("POST", "/set?k=a&v=2")
			if r := e.withCookies("GET", "/get?k=a", old, cur.cookie); r.body != "2" {
				t.Fatalf("read with the ended cookie first: %q, want the live session's 2", r.body)
			}
			r := e.withCookies("POST", "/set?k=w&v=3", old, cur.cookie)
			if r.code != http.StatusOK {
				t.Fatal(r.code)
			}
			if r.cookie != nil && r.cookie.MaxAge < 0 {
				t.Errorf("the write-only request expired the client's current cookie: %v", r.cookie)
			}
			if got := cur.get("/get?k=w"); got != "-" {
				t.Errorf("write-only with the ended cookie first went to the next cookie's session: w = %q", got)
			}
			if got := cur.get("/get?k=a"); got != "2" {
				t.Errorf("the live session after the write-only request: a = %q, want 2", got)
			}
		})
	}
}
