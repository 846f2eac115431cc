package sessiontest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/session/sessiontest"
)

func TestLoginIsIndexedAndSigned(t *testing.T) {
	key := make([]byte, 32)
	m, err := session.New(session.WithKeys(key, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := sessiontest.Login(t, m, "alice", map[string]any{"cart": []string{"apple"}})
	if len(c.Value) <= 43 {
		t.Errorf("cookie %q is not signed though WithKeys is set", c.Value)
	}
	infos, err := m.UserSessions(t.Context(), "alice")
	if err != nil || len(infos) != 1 {
		t.Fatalf("alice's sessions: %v %v", infos, err)
	}
	s := sessiontest.Open(m, c)
	if cart, ok := session.Get[[]string](s, "cart"); !ok || len(cart) != 1 || cart[0] != "apple" {
		t.Errorf("cart: %v %v", cart, ok)
	}
	info, ok := s.Info()
	if !ok || info.ID != infos[0].ID || !info.Expires.After(time.Now()) {
		t.Errorf("info: %+v %v, want alice's live session %s", info, ok, infos[0].ID)
	}
}

func TestCookieSeesLogout(t *testing.T) {
	m, err := session.New()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
	}))
	c := sessiontest.Login(t, m, "alice", nil)
	req := httptest.NewRequest("POST", "/logout", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := sessiontest.Cookie(m, rec.Result())
	if out == nil || out.MaxAge >= 0 {
		t.Fatalf("logout response cookie: %v", out)
	}
	if _, ok := sessiontest.Open(m, c).Info(); ok {
		t.Error("the session survived the logout")
	}
	if _, ok := sessiontest.Open(m, nil).Info(); ok {
		t.Error("no cookie opened a session")
	}
}

func TestEmptySetupFails(t *testing.T) {
	m, _ := session.New()
	defer m.Close()
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }() // Fatal stops the helper
		sessiontest.NewCookie(ft, m, func(*session.Session) {})
	}()
	if !ft.failed {
		t.Error("an empty session did not fail the test")
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatal(args ...any) {
	f.failed = true
	panic("fatal")
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
