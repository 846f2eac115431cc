package session

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
)

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
// middleware it is the request's session (built by the first call, see
// [Lazy]); without it, a new detached session
// at each call, which holds values in memory only. A detached session is
// loud about it: its [Session.Err] and Commit return [ErrDetached], and the
// first call from each place in the code logs a warning to [slog.Default]
// naming that place (a handler mounted outside the middleware, or a
// middleware registered before it).
func From(ctx context.Context) *Session {
	switch v := ctx.Value(contextKey{}).(type) {
	case *Session:
		if v != nil {
			return v
		}
	case *Lazy:
		if v != nil {
			return v.Session()
		}
	}
	if _, file, line, ok := runtime.Caller(1); ok {
		reportDetached(file, line)
	}
	return &Session{err: ErrDetached}
}

// detachedSites is the set of places in the code whose From found no
// session and were logged: one line per cause, not one per request. It is
// the package's only shared state; there is no Manager to keep it, since
// none is involved. It is bounded: past maxDetachedSites places, the rest
// are not logged (the first ones name the mistake).
var detachedSites struct {
	sync.Mutex
	seen map[string]struct{}
}

const maxDetachedSites = 64

func reportDetached(file string, line int) {
	site := file + ":" + strconv.Itoa(line)
	detachedSites.Lock()
	_, seen := detachedSites.seen[site]
	if !seen && len(detachedSites.seen) < maxDetachedSites {
		if detachedSites.seen == nil {
			detachedSites.seen = make(map[string]struct{})
		}
		detachedSites.seen[site] = struct{}{}
	} else {
		seen = true
	}
	detachedSites.Unlock()
	if !seen {
		slog.Warn("session: From found no session in the context: this code runs outside the Sessions middleware (a handler mounted outside it, or a middleware registered before it); its changes are not saved",
			"caller", site)
	}
}
