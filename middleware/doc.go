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
package middleware
