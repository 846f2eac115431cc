package apptest

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
)

// TokenHeader is the header the journey's API clients carry their token in.
const TokenHeader = "X-Session-Token"

// Journey walks the features whose state lives in the store — header tokens
// through login and periodic rotation, per-session lifetimes (remember me),
// device attributes and revoking one device — against st, so that every
// backend is held to them end to end, through the middleware, not only
// through storetest's calls. st is shared by the subtests; user ids are
// unique per run, so st may also hold other data.
func Journey(t *testing.T, st store.Store) {
	t.Run("HeaderTokenRotation", func(t *testing.T) { headerTokenRotation(t, st) })
	t.Run("RememberMe", func(t *testing.T) { rememberMe(t, st) })
	t.Run("Devices", func(t *testing.T) { devices(t, st) })
}

// clock is a manager clock a test moves forward. It starts at the real time,
// so the store's own clock never sees a record as expired early.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// node is an application on st: /login?user=U&device=D&remember=1 logs in
// (rotate, user id, attributes, n=1), /read answers n, /info the session's
// expiry in whole seconds from now, /devices the user's sessions as
// "device|this" lines, /revoke?id=ID ends one of them.
func node(t *testing.T, st store.Store, opts ...session.Option) (*session.Manager, http.Handler) {
	t.Helper()
	m, err := session.New(append([]session.Option{session.WithStore(st), session.WithTokenHeader(TokenHeader)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Rotate()
		s.SetUserID(r.FormValue("user"))
		s.SetAttrs(map[string]string{"device": r.FormValue("device"), "ua": r.UserAgent()})
		s.RememberMe(r.FormValue("remember") == "1")
		s.Set("n", 1)
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](session.From(r.Context()), "n")
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		in, ok := session.From(r.Context()).Info()
		if !ok {
			fmt.Fprint(w, "none")
			return
		}
		fmt.Fprint(w, int(time.Until(in.Expires).Round(time.Second).Seconds()))
	})
	mux.HandleFunc("/devices", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		infos, err := m.UserSessions(r.Context(), s.UserID())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, in := range infos {
			fmt.Fprintf(w, "%s|%s|%v\n", in.ID, in.Attrs["device"], in.ID == s.ID())
		}
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		if err := m.DestroySession(r.Context(), s.UserID(), r.FormValue("id")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return m, middleware.Sessions(m)(mux)
}

// client is an API client: it sends its token in TokenHeader and keeps the
// one a response hands back.
type client struct {
	h     http.Handler
	token string
}

func (c *client) do(t *testing.T, path string) string {
	t.Helper()
	req := httptest.NewRequest("POST", path, nil)
	req.Header.Set(TokenHeader, c.token)
	req.Header.Set("User-Agent", "journey/1")
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
	}
	if len(rec.Result().Cookies()) > 0 {
		t.Errorf("%s: a header client was sent a cookie", path)
	}
	if v, ok := rec.Header()[TokenHeader]; ok {
		c.token = v[0]
	}
	return rec.Body.String()
}

func uniqueUser() string { return "user-" + rand.Text()[:12] }

func headerTokenRotation(t *testing.T, st store.Store) {
	clk := &clock{}
	_, h := node(t, st, session.WithClock(clk.now), session.WithRotateEvery(time.Minute), session.WithRotateGrace(30*time.Second))
	api := &client{h: h}
	api.do(t, "/login?user="+uniqueUser()+"&device=api")
	t1 := api.token
	if t1 == "" {
		t.Fatal("login handed the header client no token")
	}
	if got := api.do(t, "/read"); got != "1" || api.token != t1 {
		t.Fatalf("read after login: %q, token changed %v", got, api.token != t1)
	}

	clk.advance(2 * time.Minute) // the token is due for periodic rotation
	if got := api.do(t, "/read"); got != "1" {
		t.Fatalf("read at rotation: %q, want 1", got)
	}
	t2 := api.token
	if t2 == t1 || t2 == "" {
		t.Fatal("periodic rotation handed the header client no new token")
	}

	// Another request of the client, sent with the old token before it
	// learnt the new one, still finds the session during the grace period.
	stale := &client{h: h, token: t1}
	if got := stale.do(t, "/read"); got != "1" {
		t.Errorf("old token within the grace period: %q, want 1", got)
	}
	clk.advance(45 * time.Second) // past the grace period
	stale = &client{h: h, token: t1}
	if got := stale.do(t, "/read"); got != "0" {
		t.Errorf("old token after the grace period: %q, want no session", got)
	}
	if got := api.do(t, "/read"); got != "1" {
		t.Errorf("new token after the grace period: %q, want 1", got)
	}
}

func rememberMe(t *testing.T, st store.Store) {
	const idle = 2 * time.Second
	_, h := node(t, st, session.WithIdleTimeout(idle), session.WithLifetime(time.Hour),
		session.WithRememberMe(30*time.Minute, 2*time.Hour))
	user := uniqueUser()
	kept := &client{h: h}
	kept.do(t, "/login?remember=1&device=kept&user="+user)
	brief := &client{h: h}
	brief.do(t, "/login?device=brief&user="+user)

	if got, _ := strconv.Atoi(kept.do(t, "/info")); got < 29*60 || got > 30*60 {
		t.Errorf("remembered session expires in %ds, want its own idle timeout (1800s)", got)
	}
	if got, _ := strconv.Atoi(brief.do(t, "/info")); got < 1 || got > 2 {
		t.Errorf("default session expires in %ds, want the default idle timeout (2s)", got)
	}
	time.Sleep(idle + 1500*time.Millisecond)
	if got := brief.do(t, "/read"); got != "0" {
		t.Errorf("default session after its idle timeout: %q, want no session", got)
	}
	if got := kept.do(t, "/read"); got != "1" {
		t.Errorf("remembered session after the default idle timeout: %q, want 1", got)
	}
}

func devices(t *testing.T, st store.Store) {
	m, h := node(t, st)
	user := uniqueUser()
	phone := &client{h: h}
	phone.do(t, "/login?device=phone&user="+user)
	laptop := &client{h: h}
	laptop.do(t, "/login?device=laptop&user="+user)

	infos, err := m.UserSessions(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, in := range infos {
		got[in.Attrs["device"]] = in.Attrs["ua"]
	}
	if want := map[string]string{"phone": "journey/1", "laptop": "journey/1"}; !maps.Equal(got, want) {
		t.Fatalf("devices listed %v, want %v", got, want)
	}

	// The laptop revokes the phone: the phone's next request has no session
	// and is told so with an empty token.
	var phoneID string
	for _, in := range infos {
		if in.Attrs["device"] == "phone" {
			phoneID = in.ID
		}
	}
	laptop.do(t, "/revoke?id="+phoneID)
	if got := phone.do(t, "/read"); got != "0" || phone.token != "" {
		t.Errorf("revoked phone: read %q, token %q; want no session and an empty token", got, phone.token)
	}
	lines := laptop.do(t, "/devices")
	if want := fmt.Sprintf("%s|laptop|true\n", infosID(infos, "laptop")); lines != want {
		t.Errorf("devices after revoking the phone:\n%s\nwant\n%s", lines, want)
	}
}

func infosID(infos []session.Info, device string) string {
	for _, in := range infos {
		if in.Attrs["device"] == device {
			return in.ID
		}
	}
	return ""
}
