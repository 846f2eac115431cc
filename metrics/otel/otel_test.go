package tetherotel_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	tetherotel "github.com/tether-go/tether/metrics/otel"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// failing is a memory store whose loads can be made to fail.
type failing struct {
	*memstore.Store
	fail bool
}

func (f *failing) Load(ctx context.Context, id string) (*store.Record, error) {
	if f.fail {
		return nil, errors.New("test: store down")
	}
	return f.Store.Load(ctx, id)
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// Store calls become client spans under the request's span, with their
// outcome; session events become events on the request's span; a fault is
// recorded as the span's error.
func TestSpansThroughMiddleware(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	mem := memstore.New()
	t.Cleanup(func() { mem.Close() })
	st := &failing{Store: mem}
	m, err := session.New(session.WithStore(st), session.WithObserver(tetherotel.New(tetherotel.WithTracerProvider(tp))),
		session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	app := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "n")
		s.Set("n", n+1)
	}))
	// The server span a tracing middleware would start.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("test").Start(r.Context(), "request")
		defer span.End()
		app.ServeHTTP(w, r.WithContext(ctx))
	})
	do := func(cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}

	cookie := do(nil).Result().Cookies()[0] // a commit creates the session
	do(cookie)                              // a load, a commit
	st.fail = true
	if w := do(cookie); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("failed load: status %d", w.Code)
	}

	var got []string
	var requests []sdktrace.ReadOnlySpan
	requestIDs := map[trace.SpanID]bool{}
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			requests = append(requests, s)
			requestIDs[s.SpanContext().SpanID()] = true
		}
	}
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			continue
		}
		a := attrs(s.Attributes())
		got = append(got, s.Name()+":"+a["tether.store.outcome"].AsString())
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("%s: kind %v, want client", s.Name(), s.SpanKind())
		}
		if !requestIDs[s.Parent().SpanID()] {
			t.Errorf("%s has no parent: it should be a child of the request's span", s.Name())
		}
		switch {
		case s.Name() == "tether.store.load" && a["tether.store.outcome"].AsString() == "ok":
			if !a["tether.session.found"].AsBool() || a["tether.session.source"].AsString() != "unknown" {
				t.Errorf("load span attributes %v", a)
			}
		case s.Name() == "tether.store.load":
			if s.Status().Code != codes.Error || len(s.Events()) == 0 || s.Events()[0].Name != "exception" {
				t.Errorf("failed load: status %v, events %v; want an error with the exception recorded", s.Status(), s.Events())
			}
		case s.Name() == "tether.store.commit":
			if a["tether.commit.keys"].AsInt64() < 1 || a["tether.commit.bytes"].AsInt64() < 1 {
				t.Errorf("commit span attributes %v", a)
			}
		}
	}
	want := []string{"tether.store.commit:ok", "tether.store.load:ok", "tether.store.commit:ok", "tether.store.load:error"}
	if len(got) != len(want) {
		t.Fatalf("store spans %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("store spans %q, want %q", got, want)
			break
		}
	}
	if len(requests) != 3 {
		t.Fatalf("%d request spans, want 3", len(requests))
	}
	ev := requests[0].Events()
	if len(ev) != 1 || ev[0].Name != "tether.session.created" || len(attrs(ev[0].Attributes)["tether.session.id"].AsString()) != 12 {
		t.Errorf("first request's events %v, want tether.session.created with a 12-digit id", ev)
	}
}
