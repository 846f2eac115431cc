package store

import "context"

// Source says where a store answered a Load from.
type Source uint8

const (
	// SourceUnknown: the store did not say (it does not report sources).
	SourceUnknown Source = iota
	// SourceLocal: a local cache answered, with no round trip.
	SourceLocal
	// SourceRemote: the shared backend answered.
	SourceRemote
)

func (s Source) String() string {
	switch s {
	case SourceLocal:
		return "local"
	case SourceRemote:
		return "remote"
	}
	return "unknown"
}

// LoadTrace collects what a store reports about one Load, the way
// net/http/httptrace collects what a client does: the caller puts it in the
// context with [WithLoadTrace], and a store that knows reports into it with
// [ReportSource]. Stores that do not report leave it untouched, which costs
// them nothing.
type LoadTrace struct {
	Source Source
}

type loadTraceKey struct{}

// WithLoadTrace returns a context that carries t.
func WithLoadTrace(ctx context.Context, t *LoadTrace) context.Context {
	return context.WithValue(ctx, loadTraceKey{}, t)
}

// ReportSource records where a Load was answered from, if the caller asked.
// A caching store calls it; a store wrapping another lets the outermost
// report win by reporting after the inner store returns.
func ReportSource(ctx context.Context, s Source) {
	if t, ok := ctx.Value(loadTraceKey{}).(*LoadTrace); ok && t != nil {
		t.Source = s
	}
}
