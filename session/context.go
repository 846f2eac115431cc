package session

import "context"

type contextKey struct{}

// NewContext returns a context that carries s, for adapters other than
// package middleware.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, contextKey{}, s)
}

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
