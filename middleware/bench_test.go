package middleware_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/memstore"
)

// benchHandler reads one key, or sets one, or ignores the session.
func benchHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/read":
		n, _ := session.Get[int](session.From(r.Context()), "n")
		if n != 42 {
			panic("lost value")
		}
	case "/write":
		session.From(r.Context()).Set("n", 42)
	case "/incr":
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "c")
		s.Set("c", n+1)
	}
	io.WriteString(w, "ok")
}

func benchServe(b *testing.B, h http.Handler, path string, cookie *http.Cookie) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// BenchmarkMiddleware measures the per-request cost of the middleware on the
// memory store against the bare handler, side by side in one run.
func BenchmarkMiddleware(b *testing.B) {
	mem := memstore.New()
	defer mem.Close()
	m, err := session.New(session.WithStore(mem))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(benchHandler))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/write", nil))
	cookie := rec.Result().Cookies()[0]

	observed, err := session.New(session.WithStore(mem), session.WithObserver(nopObserver{}))
	if err != nil {
		b.Fatal(err)
	}
	defer observed.Close()
	ho := middleware.Sessions(observed)(http.HandlerFunc(benchHandler))

	b.Run("none/bare", func(b *testing.B) { benchServe(b, http.HandlerFunc(benchHandler), "/none", nil) })
	b.Run("none/tether", func(b *testing.B) { benchServe(b, h, "/none", cookie) })
	b.Run("read/tether", func(b *testing.B) { benchServe(b, h, "/read", cookie) })
	b.Run("read/tether+observer", func(b *testing.B) { benchServe(b, ho, "/read", cookie) })
	b.Run("write/tether", func(b *testing.B) { benchServe(b, h, "/write", cookie) })
	b.Run("incr/tether", func(b *testing.B) { benchServe(b, h, "/incr", cookie) })
}

// nopObserver is an Observer that does nothing: the cost of observation
// itself, apart from any collector.
type nopObserver struct{}

func (nopObserver) StoreStart(ctx context.Context, _ session.StoreStartData) context.Context {
	return ctx
}
func (nopObserver) StoreEnd(context.Context, session.StoreEndData) {}
func (nopObserver) Event(context.Context, session.EventData)       {}
