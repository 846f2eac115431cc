// Package middleware adapts a [session.Manager] to net/http.
//
//	m, err := session.New()
//	if err != nil { ... }
//	defer m.Close()
//	http.ListenAndServe(addr, middleware.Sessions(m)(mux))
//
// Inside a handler, [session.From] returns the request's session. The
// middleware is thin: it begins the session, commits it just before the
// response headers go out (or when the handler returns, flushes or hijacks),
// and turns a failed commit into the error handler's response. All session
// logic lives in package session.
//
// # Commit timing
//
// A session change becomes visible to the client through its cookie, which
// travels in the response headers; and a handler must not be told "saved"
// for data that was not. So the commit runs at the first WriteHeader, Write,
// Flush or Hijack, or after the handler returns if it wrote nothing. If it
// fails, the handler's headers are discarded, the error handler writes the
// response, and the handler's further writes fail with an error.
//
// Changes made after the handler returned are not saved and are logged as
// dropped; a handler must wait for goroutines that change its session.
//
// # Order of middleware
//
// Whatever reads or changes the session (CSRF tokens, authentication, a
// "remember the last page" middleware) must be wrapped by Sessions, not wrap
// it:
//
//	handler := middleware.Sessions(m)(csrf(auth(mux)))
//
// Outside Sessions, [session.From] returns a detached session whose changes
// are not saved; its Err reports [session.ErrDetached] and the first use at
// each place in the code is logged. Middleware that only sets headers or
// cuts requests short (CORS, HSTS, http.TimeoutHandler) may sit outside.
//
// # Responses
//
// A response that carries the session cookie (or, for a header client, the
// token header) carries Cache-Control: no-store, also when the handler set
// its own caching after committing the session itself. [DefaultErrorHandler] answers what a retry may fix (a
// store failure, a spent store budget, a Manager closed during the request)
// with 503 and Retry-After, and what it cannot with 500; the body is the
// status text only.
package middleware
