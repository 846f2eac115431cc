package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

func TestBasicWalkthrough(t *testing.T) {
	m, err := session.New(session.WithCookie(session.Cookie{Name: "session", Path: "/", HTTPOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv := httptest.NewServer(middleware.Sessions(m)(newApp(m)))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	get := func(path string) string {
		t.Helper()
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if body := get("/"); !strings.Contains(body, "visits: 1") || !strings.Contains(body, "stranger") {
		t.Fatalf("first visit: %q", body)
	}
	if body := get("/"); !strings.Contains(body, "visits: 2") {
		t.Fatalf("second visit: %q", body)
	}
	u, _ := url.Parse(srv.URL)
	before := jar.Cookies(u)[0].Value
	res, err := c.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	if !strings.Contains(body, "flash: logged in as alice") || !strings.Contains(body, "hello alice") || !strings.Contains(body, "visits: 3") {
		t.Fatalf("after login: %q", body)
	}
	if after := jar.Cookies(u)[0].Value; after == before {
		t.Error("login did not rotate the token")
	}
	if body := get("/sessions"); !strings.Contains(body, "(this one)") {
		t.Errorf("sessions page: %q", body)
	}
	res, err = c.PostForm(srv.URL+"/login", url.Values{"user": {"eve\x00"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("login with a NUL in the name: status %d, want 400", res.StatusCode)
	}
	res, err = c.Post(srv.URL+"/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if body := get("/"); !strings.Contains(body, "visits: 1") || !strings.Contains(body, "stranger") {
		t.Fatalf("after logout: %q", body)
	}
}

// failingIndex is a store whose user index is down, with an error that names
// an internal host.
type failingIndex struct{ store.Store }

func (failingIndex) UserSessions(context.Context, string) ([]store.Info, error) {
	return nil, errors.New("dial tcp 10.0.3.7:6379: connection refused")
}

func TestStoreErrorsDoNotReachTheClient(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	var logs strings.Builder
	m, err := session.New(session.WithStore(failingIndex{mem}),
		session.WithCookie(session.Cookie{Name: "session", Path: "/", HTTPOnly: true, SameSite: http.SameSiteLaxMode}),
		session.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv := httptest.NewServer(middleware.Sessions(m)(newApp(m)))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = c.Get(srv.URL + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", res.StatusCode)
	}
	if strings.Contains(string(b), "10.0.3.7") || strings.Contains(string(b), "refused") {
		t.Errorf("the store's error reached the client: %q", b)
	}
	if !strings.Contains(logs.String(), "10.0.3.7") {
		t.Errorf("the store's error is not in the log: %q", logs.String())
	}
}
