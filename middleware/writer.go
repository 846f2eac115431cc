package middleware

import (
	"bufio"
	"errors"
	"net"
	"net/http"

	"github.com/tether-go/tether/session"
)

// errCommitFailed is what a handler's Write returns after the session failed
// to save and the error response was sent in its place.
var errCommitFailed = errors.New("middleware: session not saved; error response sent")

// writer commits the session at the last moment it can still change the
// response: just before the headers go out.
type writer struct {
	http.ResponseWriter
	s         *session.Session
	r         *http.Request
	onError   func(http.ResponseWriter, *http.Request, error)
	committed bool // the commit before the headers has run
	failed    bool // it failed; the error response was sent instead
}

// commit saves the session and reports whether the handler's response may go
// out. On failure the error handler writes the response instead.
func (w *writer) commit() bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	if err := w.s.Commit(w.ResponseWriter.Header()); err != nil {
		w.failed = true
		h := w.ResponseWriter.Header()
		clear(h) // the handler's headers described a response that will not be sent
		w.onError(w.ResponseWriter, w.r, err)
		return false
	}
	return true
}

func (w *writer) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) go out before the
		// final headers, which may still change.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.commit() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.commit() {
		return 0, errCommitFailed
	}
	return w.ResponseWriter.Write(b)
}

// Flush commits (the headers are about to go out) and flushes.
func (w *writer) Flush() {
	if w.commit() {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// FlushError is Flush for [http.ResponseController], reporting failures.
func (w *writer) FlushError() error {
	if !w.commit() {
		return errCommitFailed
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack commits, then hands over the connection. The session cookie is not
// sent over a hijacked connection; a handler that needs it must write it.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.commit() {
		return nil, nil, errCommitFailed
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets [http.ResponseController] reach the underlying writer's other
// features (deadlines, full duplex).
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
