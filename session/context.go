package session

import "context"

type contextKey struct{}

// NewContext returns a context that carries s, for adapters other than
// package middleware.
func NewContext(ctx context.Context, s *Session) context.Context {
	if s != nil && s.carrierUsed.CompareAndSwap(false, true) {
		s.carrier = carrier{Context: ctx, s: s}
		return &s.carrier
	}
	return context.WithValue(ctx, contextKey{}, s)
}

// carrier is what context.WithValue(ctx, contextKey{}, s) would return, kept
// inside the Session it carries. Every other lookup goes to the parent, so
// cancellation, deadlines and other values pass through unchanged.
type carrier struct {
	context.Context
	s *Session
}

func (c *carrier) Value(key any) any {
	if key == (contextKey{}) {
		return c.s
	}
	return c.Context.Value(key)
}

func (c *carrier) String() string { return "session.NewContext" }

// From returns the request's session. It never returns nil: under the
// middleware it is the request's session; without it, a new detached session
// at each call, which holds values in memory and whose Commit fails with
// [ErrDetached], so a missing middleware shows up as an error, not a panic.
func From(ctx context.Context) *Session {
	if s, ok := ctx.Value(contextKey{}).(*Session); ok && s != nil {
		return s
	}
	return &Session{}
}
