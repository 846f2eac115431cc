package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/memstore"
)

// TestAllocsPerRequest bounds what the middleware allocates beyond the bare
// handler, with an established session's cookie: on a route that never
// touches the session, one object (the wrapped writer, which carries the
// not-yet-built session, session.Lazy, and the copy of the request with the
// new context); on a route that reads one key from the memory store, five:
// the writer, the Session, the store call's context, the record's ID (a hash
// of the token) and the Vary header's value. Under load every allocation is
// garbage the collector must find again: the untouched route's cost under wrk
// was mostly that, and the writer and the request copy as two objects
// measured 0.94-0.96x the no-library server there; on /read, three
// allocations of 832 bytes in all, added to the limit-map app, cost it 5 %
// of its requests per second under wrk, some ten times what they cost in
// process (bench/analysis.md).
func TestAllocsPerRequest(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	m, err := session.New(session.WithStore(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(benchHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/write", nil))
	cookie := rec.Result().Cookies()[0]
	// One read first, so that the measured ones are steady state.
	h.ServeHTTP(httptest.NewRecorder(), withCookie(httptest.NewRequest("GET", "/read", nil), cookie))

	allocs := func(h http.Handler, path string) float64 {
		req := withCookie(httptest.NewRequest("GET", path, nil), cookie)
		return testing.AllocsPerRun(200, func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d", path, rec.Code)
			}
		})
	}
	bare := allocs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), "/none")
	for _, c := range []struct {
		path string
		max  float64
	}{{"/none", 1}, {"/read", 5}} {
		if added := allocs(h, c.path) - bare; added > c.max {
			t.Errorf("%s: %v allocations beyond the bare handler's %v, want at most %v", c.path, added, bare, c.max)
		}
	}
}

func withCookie(r *http.Request, c *http.Cookie) *http.Request {
	r.AddCookie(c)
	return r
}
