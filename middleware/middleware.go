package middleware

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
)

// An Option configures [Sessions].
type Option func(*config)

type config struct {
	onError func(http.ResponseWriter, *http.Request, error)
}

// WithErrorHandler sets the response for a session that could not be loaded
// or saved. It is called before anything of the handler's response was sent,
// so it owns the whole response; if it writes nothing, [DefaultErrorHandler]
// answers, so a failure never becomes an empty 200.
//
// Default (and with nil): [DefaultErrorHandler].
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(c *config) {
		if h != nil {
			c.onError = h
		}
	}
}

// DefaultErrorHandler answers 503 Service Unavailable with Retry-After for a
// store failure or a Manager closed while the request ran (the client should
// retry; it has not been logged out), and 500 Internal Server Error for
// anything a retry cannot fix: a session grown past the store's size limit, a
// value that did not encode, an invalid key or user id. The body is the
// status text only: error details stay in the server's log.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if Retryable(err) {
		h.Set("Retry-After", "1")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// Retryable reports whether err is one a client may retry: a store failure
// (not a size limit) or a Manager that was closed while the request ran, as
// on a replica shutting down. [DefaultErrorHandler] answers these with 503
// and Retry-After; a custom error handler can use it to do the same.
func Retryable(err error) bool {
	if errors.Is(err, session.ErrClosed) {
		return true
	}
	var se *session.StoreError
	return errors.As(err, &se) && !errors.Is(err, store.ErrTooLarge)
}

// Sessions returns middleware that gives every request a session
// ([session.From]) and saves it before the response headers go out. m must
// not be nil.
//
// A request that never uses its session costs no store round trip. If the
// session cannot be loaded or saved, the handler's response is replaced by
// the error handler's: a client is never told "saved" for data that was not,
// and a store outage never reads as "logged out". Changes made after the
// headers went out (a streaming handler) are saved when they need no new
// cookie, and logged otherwise. Changes made after the handler returned (by
// a goroutine it started, or by a handler http.TimeoutHandler abandoned) are
// not saved, and logged as dropped: wait for such goroutines before
// returning.
//
// Whenever the response carries the session cookie or a header client's
// token ([session.WithTokenHeader]), it carries Cache-Control: no-store,
// whatever the handler set. A Secure cookie sent on a plain-HTTP request for
// a host other than localhost (with no X-Forwarded-Proto or Forwarded saying
// https) is logged once: browsers never send it back.
//
// Middleware that uses the session (CSRF tokens, authentication) must sit
// inside Sessions; [session.From] outside it returns a detached session
// whose Err reports [session.ErrDetached].
//
// The wrapped ResponseWriter supports Flush, Hijack and the rest of
// [http.ResponseController] through Unwrap; each commits first.
func Sessions(m *session.Manager, opts ...Option) func(http.Handler) http.Handler {
	if m == nil {
		panic("middleware: Sessions(nil)")
	}
	cfg := config{onError: DefaultErrorHandler}
	for _, o := range opts {
		o(&cfg)
	}
	sh := &shared{onError: cfg.onError, cookiePrefix: m.CookieName() + "=", tokenHeader: m.TokenHeader(), insecure: insecureWarning{log: m.Logger()}}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// One allocation for the writer, the request's session and
			// the request the handler sees: the Session itself is built
			// only if the handler asks for it (session.Lazy), and only a
			// built session is committed. On a route that never uses its
			// session, this allocation is all the middleware costs, and
			// under load its bytes cost more than its nanoseconds (each
			// is garbage the collector must sweep), so the request copy
			// that carries the session's context lives in it too.
			sw := &writer{ResponseWriter: w, sh: sh}
			// The session is built from the request as it came in: its
			// store calls run under the request's own context, which
			// does not carry the session (a store or an Observer that
			// asked it for one would wait for a session mid-load).
			sw.lazy.Init(m, r)
			sw.req = *r.WithContext(sw.lazy.Context(r.Context()))
			r = &sw.req
			defer sw.lazy.End() // changes after this are dropped, loudly
			if h := w.Header(); len(h) > 0 {
				// Headers set by outer middleware (CORS, HSTS, request
				// IDs) belong on the error response too.
				sw.outer = h.Clone()
			}
			next.ServeHTTP(sw, r)
			if !sw.committed {
				// If the request's context ended while the handler ran
				// (an http.TimeoutHandler outside Sessions answered 503,
				// or the client went away), no cookie of this response
				// will reach the client: commit commits as after the
				// headers went out (CommitLate). Changes to the session
				// are saved, and what needs a new cookie (a new session,
				// a login, a rotation) is not done, and is logged. So it
				// is when the handler writes after that moment.
				if sw.commit() {
					sw.sendHeaders() // net/http sends them when we return
				}
				return
			}
			if sw.failed {
				return
			}
			s := sw.lazy.Built()
			if s == nil {
				return // never used: nothing to save
			}
			if err := s.CommitLate(); err != nil {
				m.Logger().LogAttrs(r.Context(), slog.LevelError, "session: changes made after the response headers were not saved",
					slog.String("path", r.URL.Path), slog.Any("err", err))
			}
		})
	}
}
