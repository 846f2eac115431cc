package session_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/session/sessiontest"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// moveHook runs once, just before the first Move reaches the store.
type moveHook struct {
	store.Store
	mu     sync.Mutex
	onMove func()
}

func (w *moveHook) Move(ctx context.Context, id string, m store.Moved, e time.Time, v uint64) error {
	w.mu.Lock()
	f := w.onMove
	w.onMove = nil
	w.mu.Unlock()
	if f != nil {
		f()
	}
	return w.Store.Move(ctx, id, m, e, v)
}
func (w *moveHook) UserSessions(ctx context.Context, u string) ([]store.Info, error) {
	return w.Store.(interface {
		UserSessions(context.Context, string) ([]store.Info, error)
	}).UserSessions(ctx, u)
}
func (w *moveHook) DeleteUser(ctx context.Context, u string) (int, error) {
	return w.Store.(interface {
		DeleteUser(context.Context, string) (int, error)
	}).DeleteUser(ctx, u)
}

// A switch of account (ann's browser logs in as bob: SetUserID + Rotate)
// whose Move conflicts with a concurrent write of ann's session, while
// DestroyUser("bob") ends the new record between the rotation's attempts.
// No serial order of {login, DestroyUser(bob)} leaves the browser logged in
// as ann: login then DestroyUser logs it out (ann's record is a tombstone);
// DestroyUser then login logs it in as bob. So the login must not report
// success while ann's session lives on: a first version of the rotation's
// handling of an ended new record (3a04914, a review's test) returned nil,
// set no cookie, and left the browser's cookie opening ann's session. The
// commit fails instead: the old record is live, the login did not happen.
func TestSwitchAccountRacingDestroyOfNewUser(t *testing.T) {
	for _, end := range []string{"DestroyUser", "DestroySession"} {
		t.Run(end, func(t *testing.T) {
			st := &moveHook{Store: memstore.New()}
			m, err := session.New(session.WithStore(st), session.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ann := sessiontest.Login(t, m, "ann", map[string]any{"k": 1})

			r := httptest.NewRequest("POST", "/login", nil)
			r.AddCookie(ann)
			s := m.Begin(r)
			if s.UserID() != "ann" {
				t.Fatal("setup")
			}
			s.SetUserID("bob")
			s.Rotate()
			st.onMove = func() {
				// another tab of ann's writes the old record
				r2 := httptest.NewRequest("GET", "/", nil)
				r2.AddCookie(ann)
				s2 := m.Begin(r2)
				s2.Set("w", 2)
				if err := s2.Commit(http.Header{}); err != nil {
					t.Errorf("concurrent write: %v", err)
				}
				switch end {
				case "DestroyUser":
					if n, err := m.DestroyUser(context.Background(), "bob"); err != nil || n != 1 {
						t.Errorf("DestroyUser(bob) = %d, %v", n, err)
					}
				default:
					infos, err := m.UserSessions(context.Background(), "bob")
					if err != nil || len(infos) != 1 {
						t.Fatalf("UserSessions(bob) = %v, %v", infos, err)
					}
					if err := m.DestroySession(context.Background(), "bob", infos[0].ID); err != nil {
						t.Errorf("DestroySession: %v", err)
					}
				}
			}
			h := http.Header{}
			err = s.Commit(h)
			got := sessiontest.Cookie(m, &http.Response{Header: h})
			held := ann
			if got != nil {
				held = got
			}
			u := ""
			if got == nil || got.MaxAge >= 0 {
				u = sessiontest.Open(m, held).UserID()
			}
			t.Logf("Commit err=%v, cookie set=%v, session.UserID after=%q, browser's cookie opens as %q", err, got != nil, s.UserID(), u)
			if err == nil && u == "ann" {
				t.Errorf("login as bob reported success (Commit nil, no cookie set), yet the browser is still logged in as %q", u)
			}
		})
	}
}
