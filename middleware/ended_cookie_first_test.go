package middleware_test

import (
	"net/http"
	"testing"
)

// A stale cookie (a parent domain's) whose session DestroyUser or a logout
// ended, sent before the client's current, live cookie. A read moves on to
// the live cookie, and so must a write-only request. It used to drop its
// write behind a 200 ("session rotated away by a login or ended") and expire
// the current cookie, logging the user out; found by a review when
// DeleteUser began leaving tombstones (before, the ended record was gone and
// the write moved on, as on any dead cookie).
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
			if got := cur.get("/get?k=w"); got != "3" {
				t.Errorf("write-only with the ended cookie first was dropped though a read uses the live cookie: w = %q", got)
			}
		})
	}
}
