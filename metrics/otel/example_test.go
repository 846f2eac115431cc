package tetherotel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	tetherotel "github.com/tether-go/tether/metrics/otel"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

func Example() {
	spans := tracetest.NewSpanRecorder() // in production: an exporter's batch processor
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	m, err := session.New(session.WithObserver(tetherotel.New(tetherotel.WithTracerProvider(tp))))
	if err != nil {
		panic(err)
	}
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("cart", "3 items")
	}))

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/cart", nil))
	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
	}
	// Output:
	// tether.store.commit client
}
