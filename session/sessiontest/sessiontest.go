// Package sessiontest helps an application's own tests: it makes the session
// a test needs (a logged-in user, a cart) and hands back the cookie to send,
// and it opens the session a response left, without driving the
// application's login routes (Django's force_login).
//
// Sessions are made and read through the Manager the application uses, so
// they live in its store with every rule of the real thing: expiry, the user
// index, signed cookies with WithKeys.
package sessiontest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-go/tether/session"
)

// NewCookie creates a session that setup prepares (values, a user id,
// RememberMe) and returns the cookie a browser would hold for it. It fails
// the test if the session cannot be saved or setup leaves it empty.
func NewCookie(t testing.TB, m *session.Manager, setup func(*session.Session)) *http.Cookie {
	t.Helper()
	s := m.Begin(httptest.NewRequest(http.MethodGet, "/", nil))
	setup(s)
	h := http.Header{}
	if err := s.Commit(h); err != nil {
		t.Fatalf("sessiontest: saving the session: %v", err)
	}
	c := cookieIn(m, h)
	if c == nil || c.MaxAge < 0 {
		t.Fatal("sessiontest: setup left the session empty; set a value or a user id")
	}
	return c
}

// Login returns the cookie of a new session indexed under userID, with the
// given values (encoded by the Manager's codec), as if the user had just
// logged in.
func Login(t testing.TB, m *session.Manager, userID string, values map[string]any) *http.Cookie {
	t.Helper()
	return NewCookie(t, m, func(s *session.Session) {
		s.SetUserID(userID)
		for k, v := range values {
			s.Set(k, v)
		}
	})
}

// Open returns the session the cookie c names, to read in a test (Get, Has,
// Keys, UserID, Info). A nil c, or a cookie of a session that ended, opens an
// empty session. Changes made to it are not saved.
func Open(m *session.Manager, c *http.Cookie) *session.Session {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return m.Begin(r)
}

// Cookie returns the session cookie res set, or nil if it set none (the
// session did not change in a way the client must learn of). A cookie with
// MaxAge < 0 means the response logged the client out.
func Cookie(m *session.Manager, res *http.Response) *http.Cookie {
	return cookieIn(m, res.Header)
}

func cookieIn(m *session.Manager, h http.Header) *http.Cookie {
	var found *http.Cookie
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == m.CookieName() {
			found = c
		}
	}
	return found
}
