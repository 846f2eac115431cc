package tetherprom_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	tetherprom "github.com/tether-go/tether/metrics/prometheus"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// nopObserver does nothing: the cost of observation itself.
type nopObserver struct{}

func (nopObserver) StoreStart(ctx context.Context, _ session.StoreStartData) context.Context {
	return ctx
}
func (nopObserver) StoreEnd(context.Context, session.StoreEndData) {}
func (nopObserver) Event(context.Context, session.EventData)       {}

// BenchmarkObserverOverhead measures a read-only request (one load on the
// memory store) under the middleware with no observer, a no-op observer and
// the Collector, side by side in one run.
func BenchmarkObserverOverhead(b *testing.B) {
	mem := memstore.New()
	defer mem.Close()
	read := func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		if r.URL.Path == "/write" {
			s.Set("n", 42)
		} else if n, _ := session.Get[int](s, "n"); n != 42 {
			panic("lost value")
		}
		io.WriteString(w, "ok")
	}
	handler := func(opts ...session.Option) http.Handler {
		m, err := session.New(append([]session.Option{session.WithStore(mem)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		return middleware.Sessions(m)(http.HandlerFunc(read))
	}
	none := handler()
	rec := httptest.NewRecorder()
	none.ServeHTTP(rec, httptest.NewRequest("GET", "/write", nil))
	cookie := rec.Result().Cookies()[0]

	c := tetherprom.New()
	prometheus.NewRegistry().MustRegister(c)
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"none", none},
		{"nop", handler(session.WithObserver(nopObserver{}))},
		{"collector", handler(session.WithObserver(c))},
	} {
		b.Run("read/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/read", nil)
				req.AddCookie(cookie)
				for pb.Next() {
					rec := httptest.NewRecorder()
					bc.h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}

// BenchmarkStoreEnd measures the Collector alone on a load's end: what it
// adds to every store call.
func BenchmarkStoreEnd(b *testing.B) {
	c := tetherprom.New()
	ctx := context.Background()
	d := session.StoreEndData{Op: session.OpLoad, Outcome: "ok", Found: true, Source: store.SourceLocal, Duration: 300 * time.Microsecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.StoreEnd(c.StoreStart(ctx, session.StoreStartData{Op: session.OpLoad}), d)
		}
	})
}
