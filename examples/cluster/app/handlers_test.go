package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/redisstore"
)

// The routes on the memory store, in process: what the cluster test and
// run.sh rely on, without the servers. cluster_test.go walks them across
// real nodes.

type client struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newClient(t *testing.T, h http.Handler) *client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &client{t: t, srv: srv, c: &http.Client{Jar: jar}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, reply) {
	c.t.Helper()
	var res *http.Response
	var err error
	if method == http.MethodPost {
		res, err = c.c.PostForm(c.srv.URL+path, form)
	} else {
		res, err = c.c.Get(c.srv.URL + path)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var r reply
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res, r
}

func newManager(t *testing.T, opts ...session.Option) *session.Manager {
	t.Helper()
	m, err := session.New(append([]session.Option{session.WithCookie(session.Cookie{Name: CookieName, Path: "/", HTTPOnly: true})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestRoutes(t *testing.T) {
	m := newManager(t)
	c := newClient(t, newHandler("n1", m, func() any { return map[string]int{"hits": 7} }, nil))

	check := func(step string, res *http.Response, r reply, code int) {
		t.Helper()
		if res.StatusCode != code {
			t.Fatalf("%s: status %d, want %d (%+v)", step, res.StatusCode, code, r)
		}
		if res.Header.Get("X-Node") != "n1" || (r != reply{} && r.Node != "n1") {
			t.Fatalf("%s: X-Node %q, body node %q", step, res.Header.Get("X-Node"), r.Node)
		}
	}

	res, _ := c.do(http.MethodGet, "/healthz", nil)
	check("healthz", res, reply{}, http.StatusOK)
	if len(res.Cookies()) != 0 {
		t.Fatalf("healthz set a cookie: %v", res.Cookies())
	}
	res, r := c.do(http.MethodGet, "/whoami", nil)
	check("whoami before login", res, r, http.StatusUnauthorized)
	res, r = c.do(http.MethodGet, "/", nil)
	check("read the counter before any visit", res, r, http.StatusOK)
	if r.Visits != 0 || len(res.Cookies()) != 0 {
		t.Fatalf("GET / changed state: %+v, cookies %v", r, res.Cookies())
	}
	res, r = c.do(http.MethodPost, "/", nil)
	check("visit", res, r, http.StatusOK)
	if r.Visits != 1 || r.User != "" {
		t.Fatalf("first visit: %+v", r)
	}
	res, r = c.do(http.MethodGet, "/", nil)
	check("read the counter", res, r, http.StatusOK)
	if r.Visits != 1 {
		t.Fatalf("GET / after one visit: %+v", r)
	}
	res, r = c.do(http.MethodPost, "/login", url.Values{})
	check("login without user", res, r, http.StatusBadRequest)
	res, r = c.do(http.MethodPost, "/login", url.Values{"user": {"alice"}})
	check("login", res, r, http.StatusOK)
	if len(res.Cookies()) != 1 || res.Cookies()[0].Name != CookieName {
		t.Fatalf("login did not send a new %s cookie: %v", CookieName, res.Cookies())
	}
	res, r = c.do(http.MethodGet, "/whoami", nil)
	check("whoami", res, r, http.StatusOK)
	if r.User != "alice" || r.Visits != 1 {
		t.Fatalf("whoami: %+v", r)
	}
	res, r = c.do(http.MethodPost, "/set?k=color&v=blue", nil)
	check("set", res, r, http.StatusOK)
	res, r = c.do(http.MethodPost, "/set", url.Values{"v": {"x"}})
	check("set without key", res, r, http.StatusBadRequest)
	res, r = c.do(http.MethodGet, "/get?k=color", nil)
	check("get", res, r, http.StatusOK)
	if r.Found == nil || !*r.Found || r.Value != "blue" || r.User != "alice" {
		t.Fatalf("get color: %+v", r)
	}
	res, r = c.do(http.MethodGet, "/get?k=size", nil)
	check("get missing", res, r, http.StatusOK)
	if r.Found == nil || *r.Found {
		t.Fatalf("get size: %+v", r)
	}
	res, r = c.do(http.MethodPost, "/logout", nil)
	check("logout", res, r, http.StatusOK)
	res, r = c.do(http.MethodGet, "/whoami", nil)
	check("whoami after logout", res, r, http.StatusUnauthorized)

	res, _ = c.do(http.MethodGet, "/stats", nil)
	check("stats", res, reply{}, http.StatusOK)
}

// TestStoreErrorNamesTheNode: the middleware's 503 for an unreachable store
// also carries X-Node, so a failed step of the walk says where it failed.
func TestStoreErrorNamesTheNode(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	rs := redisstore.New(rdb, redisstore.WithPolicyCheck(false))
	defer rs.Close()
	m := newManager(t, session.WithStore(rs))
	c := newClient(t, newHandler("n2", m, nil, nil))
	// Only a request with a cookie reaches the store.
	u, _ := url.Parse(c.srv.URL)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: strings.Repeat("A", 43)}})
	res, _ := c.do(http.MethodGet, "/whoami", nil)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("X-Node") != "n2" {
		t.Fatalf("whoami with the store down: %d, X-Node %q", res.StatusCode, res.Header.Get("X-Node"))
	}
	if res, _ := c.do(http.MethodGet, "/stats", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("/stats without a stats function: %d", res.StatusCode)
	}
}
