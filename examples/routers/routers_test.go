package routers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tether-go/tether/examples/routers"
	"github.com/tether-go/tether/session"
)

func TestRouters(t *testing.T) {
	for name, build := range map[string]func(*session.Manager) http.Handler{
		"gin":  routers.Gin,
		"echo": routers.Echo,
	} {
		t.Run(name, func(t *testing.T) {
			m, err := session.New()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			h := build(m)
			var cookie *http.Cookie
			do := func(method, path string, form url.Values) string {
				t.Helper()
				req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if cookie != nil {
					req.AddCookie(cookie)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
				}
				for _, c := range rec.Result().Cookies() {
					if c.Name == m.CookieName() {
						cookie = c
					}
				}
				return strings.TrimSpace(rec.Body.String())
			}
			do("GET", "/visit", nil)
			if got := do("GET", "/visit", nil); got != `{"visits":2}` {
				t.Fatalf("second visit: %s", got)
			}
			before := cookie.Value
			do("POST", "/login", url.Values{"user": {"alice"}})
			if cookie.Value == before {
				t.Error("login did not rotate the token")
			}
			if got := do("GET", "/whoami", nil); got != "alice" {
				t.Errorf("whoami: %q", got)
			}
			if got := do("GET", "/visit", nil); got != `{"visits":3}` {
				t.Errorf("visits after login: %s", got)
			}
		})
	}
}
