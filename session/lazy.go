package session

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
)

// Lazy is a request's session that is not built until the handler first asks
// for it with [From]: on a route that never uses its session, the request
// costs no Session at all (no allocation, no cookie parsing, nothing to
// commit). Under load that matters more than the nanoseconds suggest: every
// byte a request allocates is garbage the collector must find again, and a
// Session is larger than the request net/http allocates for itself.
//
// An adapter embeds a Lazy by value in its own per-request state (package
// middleware embeds it in its ResponseWriter), calls [Lazy.Init], serves the
// request with the context [Lazy.Context] returns, commits [Lazy.Built] if it
// is not nil (Commit before the headers go out, CommitLate after the handler
// if they went out first), and calls [Lazy.End] once the handler has
// returned. The zero Lazy is not ready for use; a Lazy must not be copied
// after Init.
//
// From on a Lazy's context returns the same Session every time, from any
// goroutine of the request. A Session built after End is ended at once: its
// changes are dropped and logged, as for any change after End.
type Lazy struct {
	m   *Manager
	req *http.Request

	built atomic.Pointer[Session]
	mu    sync.Mutex // serialises building and End
	ended bool

	carrier lazyCarrier
}

// lazyCarrier is the context Lazy.Context returns, allocated with the Lazy.
type lazyCarrier struct {
	context.Context
	l *Lazy
}

func (c *lazyCarrier) Value(key any) any {
	if key == (contextKey{}) {
		return c.l
	}
	return c.Context.Value(key)
}

func (c *lazyCarrier) String() string { return "session.Lazy" }

// Init prepares l for the request r on m. m must not be nil.
func (l *Lazy) Init(m *Manager, r *http.Request) {
	l.m, l.req = m, r
}

// Context returns a context derived from parent that carries l: [From] on it
// builds l's session on first use. It allocates nothing. Call it once per
// Lazy.
func (l *Lazy) Context(parent context.Context) context.Context {
	l.carrier = lazyCarrier{Context: parent, l: l}
	return &l.carrier
}

// Session returns the request's session, building it on first use (see
// [Manager.Begin]).
func (l *Lazy) Session() *Session {
	if s := l.built.Load(); s != nil {
		return s
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.built.Load(); s != nil {
		return s
	}
	s := l.m.Begin(l.req)
	if l.ended {
		s.End()
	}
	l.built.Store(s)
	return s
}

// Built returns the session if the request asked for it, and nil if not:
// a session never built has nothing to commit.
func (l *Lazy) Built() *Session { return l.built.Load() }

// End ends the request's session, if it was built, and makes any session
// built from now on ended from the start (see [Session.End]).
func (l *Lazy) End() {
	l.mu.Lock()
	l.ended = true
	s := l.built.Load()
	l.mu.Unlock()
	if s != nil {
		s.End()
	}
}
