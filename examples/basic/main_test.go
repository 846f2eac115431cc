package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
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
	res, err = c.Post(srv.URL+"/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if body := get("/"); !strings.Contains(body, "visits: 1") || !strings.Contains(body, "stranger") {
		t.Fatalf("after logout: %q", body)
	}
}
