package middleware

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/tether-go/tether/internal/nocache"
	"github.com/tether-go/tether/session"
)

// ErrNotSaved is what a handler's Write, Flush or Hijack returns after the
// session failed to save and the error response was sent in its place.
var ErrNotSaved = errors.New("middleware: session not saved; error response sent")

// writer commits the session at the last moment it can still change the
// response: just before the headers go out.
type writer struct {
	http.ResponseWriter
	lazy  session.Lazy // the request's session, built on first use
	req   http.Request // the request the handler sees: it carries lazy
	sh    *shared
	outer http.Header // headers set before the handler ran

	committed  bool // the commit before the headers has run
	failed     bool // it failed; the error response was sent instead
	headersOut bool // the handler's headers went out
}

// shared is what every request of one [Sessions] middleware shares, kept out
// of writer so that the per-request allocation stays small.
type shared struct {
	onError      func(http.ResponseWriter, *http.Request, error)
	cookiePrefix string // "name=" of the session cookie
	tokenHeader  string // the header that carries a header client's token; "": none
	insecure     insecureWarning
}

// sendHeaders is called when the handler's response headers are about to go
// out, after the commit: the last moment they can change. A response that
// carries the session cookie, or a header client's token (or the empty token
// header that ends its session), must not be stored by any cache, whatever
// the handler set after committing the session itself (an early Commit
// followed by Cache-Control: public would otherwise hand the token to a
// shared cache, and every later client of that cache the session).
func (w *writer) sendHeaders() {
	if w.headersOut {
		return
	}
	w.headersOut = true
	// Even with no session of its own built, the response may carry the
	// session's cookie: one set by a Sessions nested inside this one (whose
	// no-store a middleware between them may have overwritten), by an
	// adapter built on Manager.Begin, or by the handler itself.
	h := w.ResponseWriter.Header()
	if w.sh.tokenHeader != "" {
		if _, ok := h[w.sh.tokenHeader]; ok {
			nocache.Set(h)
		}
	}
	for _, v := range h["Set-Cookie"] {
		if strings.HasPrefix(v, w.sh.cookiePrefix) {
			nocache.Set(h)
			w.sh.insecure.check(&w.req, v)
			return
		}
	}
}

// commit saves the session and reports whether the handler's response may go
// out. On failure the error handler writes the response instead. If the
// request's context has ended (the client went away, or an
// http.TimeoutHandler outside Sessions answered), the commit is late, as
// when the handler returns without writing (see Sessions).
func (w *writer) commit() bool {
	if !w.committed && w.lazy.Built() == nil {
		// Never used (so far): nothing to save, no cookie to write. A
		// session built after this is committed late, after the handler.
		w.committed = true
		return true
	}
	return w.commitMode(w.req.Context().Err() != nil)
}

// commitMode is commit, late or not. late: the session cookie cannot be
// delivered (a hijacked connection, an ended request), so nothing that needs
// a new cookie is done.
func (w *writer) commitMode(late bool) bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	s := w.lazy.Built()
	if s == nil {
		// Never used (so far): nothing to save, no cookie to write. A
		// session built after this is committed late, after the handler.
		return true
	}
	var err error
	if late {
		err = s.CommitLate()
	} else {
		err = s.Commit(w.ResponseWriter.Header())
	}
	if err == nil {
		return true
	}
	w.failed = true
	// The handler's headers described a response that will not be sent.
	h := w.ResponseWriter.Header()
	clear(h)
	maps.Copy(h, w.outer)
	tw := &trackingWriter{ResponseWriter: w.ResponseWriter}
	w.sh.onError(tw, &w.req, err)
	if !tw.wrote {
		DefaultErrorHandler(w.ResponseWriter, &w.req, err)
	}
	return false
}

func (w *writer) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) go out before the
		// final headers, which may still change.
		w.informational(code)
		return
	}
	if w.commit() {
		w.sendHeaders()
		w.ResponseWriter.WriteHeader(code)
	}
}

// informational sends a 1xx response. net/http sends the whole header map
// with it, so a session committed early (its cookie, a header client's
// token) would go out in a response no client keeps and no cache rule
// covers, before the final response decides whether it may: the session's
// credentials are held back from it, and put back for the final headers.
func (w *writer) informational(code int) {
	h := w.ResponseWriter.Header()
	cookies, hasCookies := h["Set-Cookie"]
	if hasCookies {
		h["Set-Cookie"] = slices.DeleteFunc(slices.Clone(cookies), func(v string) bool {
			return strings.HasPrefix(v, w.sh.cookiePrefix)
		})
		defer func() { h["Set-Cookie"] = cookies }()
	}
	if token, ok := h[w.sh.tokenHeader]; ok && w.sh.tokenHeader != "" {
		delete(h, w.sh.tokenHeader)
		defer func() { h[w.sh.tokenHeader] = token }()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.commit() {
		return 0, ErrNotSaved
	}
	w.sendHeaders()
	return w.ResponseWriter.Write(b)
}

// WriteString is Write for io.WriteString and fmt.Fprint, which would
// otherwise copy the string into a new []byte for every call.
func (w *writer) WriteString(s string) (int, error) {
	if !w.commit() {
		return 0, ErrNotSaved
	}
	w.sendHeaders()
	return io.WriteString(w.ResponseWriter, s)
}

// ReadFrom is Write for io.Copy and http.ServeContent: through it, the
// underlying writer's own ReadFrom still sends files with sendfile(2) instead
// of copying them through a buffer.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	if !w.commit() {
		return 0, ErrNotSaved
	}
	w.sendHeaders()
	return io.Copy(w.ResponseWriter, src)
}

// Flush commits (the headers are about to go out) and flushes.
func (w *writer) Flush() {
	if w.commit() {
		w.sendHeaders()
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// FlushError is Flush for [http.ResponseController], reporting failures.
func (w *writer) FlushError() error {
	if !w.commit() {
		return ErrNotSaved
	}
	w.sendHeaders()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack commits, then hands over the connection. The response the handler
// writes on the connection is its own, so the session cookie cannot travel:
// the commit is a late one (no new session, no rotation), and a failure is
// still answered with the error response, since nothing was sent yet.
//
// A connection that cannot be hijacked (HTTP/2, a recorder) is found out
// before the commit, through any wrappers that have Unwrap: the handler then
// answers normally, as a WebSocket handler does when the upgrade is not
// possible, and that response can still carry a new session's cookie. A
// wrapper that offers Hijack without Unwrap is taken at its word; if its
// Hijack then fails, a new session made by the request is lost (logged).
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj := hijacker(w.ResponseWriter)
	if hj == nil {
		return nil, nil, fmt.Errorf("middleware: Hijack: %w", http.ErrNotSupported)
	}
	if !w.commitMode(true) {
		return nil, nil, ErrNotSaved
	}
	return hj.Hijack()
}

// hijacker finds the writer whose Hijack a handler's call reaches (the first
// in the chain, as [http.ResponseController] picks it), or nil if the
// connection beneath cannot be hijacked: the innermost writer reachable
// through Unwrap must be a Hijacker too. A wrapper with both Hijack and
// Unwrap (another Sessions, most logging middleware) would otherwise be taken
// at its word and fail only after the late commit.
func hijacker(rw http.ResponseWriter) http.Hijacker {
	first, _ := rw.(http.Hijacker)
	for {
		u, ok := rw.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		rw = u.Unwrap()
		if first == nil {
			first, _ = rw.(http.Hijacker)
		}
	}
	if _, ok := rw.(http.Hijacker); !ok {
		return nil
	}
	return first
}

// Unwrap lets [http.ResponseController] reach the underlying writer's other
// features (deadlines, full duplex).
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trackingWriter notes whether an error handler wrote anything.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
