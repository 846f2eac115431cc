package hybridstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
)

// app is an application node behind the session middleware, and a browser
// that keeps its cookie.
type app struct {
	h      http.Handler
	cookie *http.Cookie
}

func newApp(t *testing.T, st store.Store, opts ...session.Option) *app {
	t.Helper()
	opts = append([]session.Option{session.WithStore(st)}, opts...)
	m, err := session.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		session.From(r.Context()).Set("n", n)
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](session.From(r.Context()), "n")
		fmt.Fprint(w, n)
	})
	return &app{h: middleware.Sessions(m)(mux)}
}

// do sends a request with the cookie, and keeps the cookie the response sets.
func (a *app) do(path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if a.cookie != nil {
		req.AddCookie(a.cookie)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		a.cookie = c
	}
	return rec
}
