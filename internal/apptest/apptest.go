// Package apptest is a small application behind the session middleware and a
// browser that keeps its cookie, for the backends' end-to-end tests: the same
// requests, whatever the store.
package apptest

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

// App is an application node on one store, with a browser's cookie. It is not
// safe for concurrent use (a browser tab is one request at a time).
//
// Routes: /set?n=N stores the integer N under "n" (a write without a read),
// /read answers the stored n (0 if none), /nothing ignores the session.
type App struct {
	H      http.Handler
	Cookie *http.Cookie
}

// New starts a session manager on st (closed at test cleanup) and the routes
// under its middleware.
func New(tb testing.TB, st store.Store, opts ...session.Option) *App {
	tb.Helper()
	m, err := session.New(append([]session.Option{session.WithStore(st)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		session.From(r.Context()).Set("n", n)
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](session.From(r.Context()), "n")
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/nothing", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})
	return &App{H: middleware.Sessions(m)(mux)}
}

// Do sends a request with the cookie, and keeps the cookie the response sets.
func (a *App) Do(path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if a.Cookie != nil {
		req.AddCookie(a.Cookie)
	}
	rec := httptest.NewRecorder()
	a.H.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		a.Cookie = c
	}
	return rec
}
