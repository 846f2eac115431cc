// Package tetherotel traces what a Tether session manager does with
// OpenTelemetry: a client span per store call, and the events in a
// session's life as span events on the request's span.
//
// The import path ends in otel, the package name is tetherotel, so that it
// does not clash with go.opentelemetry.io/otel in the code that uses both.
//
//	m, err := session.New(session.WithObserver(tetherotel.New()))
//
// # Spans and events
//
// Each store call is a span named tether.store.<op> (tether.store.load,
// tether.store.commit, ...) of kind client, child of the span in the
// request's context (the server span of otelhttp, say), with attributes
// tether.store.op and tether.store.outcome, and for a load
// tether.session.found and tether.session.source, for a commit
// tether.commit.keys and tether.commit.bytes. A fault (outcome "error") is
// recorded on the span with status Error; a contract outcome such as
// not_found or conflict is not a failure of the call and is only an
// attribute.
//
// Session events (created, rotated, destroyed, expired, invalid_cookie,
// forwarded, dropped) are added to the request's span as events named
// tether.session.<event>, with the first 12 hex digits of the session ID
// (a hash, never the token), like the session package's logs.
//
// A [Tracer] is safe for concurrent use by multiple goroutines.
package tetherotel

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tether-go/tether/session"
)

var _ session.Observer = (*Tracer)(nil)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/tether-go/tether/metrics/otel"

// Tracer is a [session.Observer] that traces store calls and session events.
type Tracer struct {
	tracer trace.Tracer
}

// Option configures a [Tracer].
type Option func(*config)

type config struct{ provider trace.TracerProvider }

// WithTracerProvider sets where spans go.
//
// Default: otel.GetTracerProvider(), the global provider, as OpenTelemetry
// instrumentation does by convention.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.provider = tp }
}

// New returns a Tracer.
func New(opts ...Option) *Tracer {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.provider == nil {
		c.provider = otel.GetTracerProvider()
	}
	return &Tracer{tracer: c.provider.Tracer(ScopeName)}
}

// StoreStart implements [session.Observer]: it starts the call's span.
func (t *Tracer) StoreStart(ctx context.Context, d session.StoreStartData) context.Context {
	ctx, _ = t.tracer.Start(ctx, "tether.store."+d.Op.String(), trace.WithSpanKind(trace.SpanKindClient))
	return ctx
}

// StoreEnd implements [session.Observer]: it ends the call's span.
func (t *Tracer) StoreEnd(ctx context.Context, d session.StoreEndData) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("tether.store.op", d.Op.String()), attribute.String("tether.store.outcome", d.Outcome))
	switch d.Op {
	case session.OpLoad:
		span.SetAttributes(attribute.Bool("tether.session.found", d.Found), attribute.String("tether.session.source", d.Source.String()))
	case session.OpCommit:
		span.SetAttributes(attribute.Int("tether.commit.keys", d.Keys), attribute.Int("tether.commit.bytes", d.Bytes))
	}
	if d.Outcome == "error" && d.Err != nil {
		span.RecordError(d.Err)
		span.SetStatus(codes.Error, d.Err.Error())
	}
	span.End()
}

// Event implements [session.Observer]: it adds the event to the span in ctx.
func (t *Tracer) Event(ctx context.Context, d session.EventData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	if d.ID != "" {
		attrs = append(attrs, attribute.String("tether.session.id", d.ID[:min(12, len(d.ID))]))
	}
	if d.Kind == session.EventRotated {
		attrs = append(attrs, attribute.Bool("tether.rotation.periodic", d.Periodic))
	}
	if d.Reason != "" {
		attrs = append(attrs, attribute.String("tether.dropped.reason", d.Reason))
	}
	span.AddEvent("tether.session."+d.Kind.String(), trace.WithAttributes(attrs...))
}
