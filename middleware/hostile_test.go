package middleware_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

func wrap(e *env, h http.Handler) http.Handler { return middleware.Sessions(e.m)(h) }

func TestHostileCookiesAreNoSessionWithoutStoreTrip(t *testing.T) {
	e := newEnv(t)
	valid := &client{e: e}
	valid.do("POST", "/set?k=a&v=1")
	e.store.reset()
	cookies := []string{
		"x",
		strings.Repeat("A", 42),
		strings.Repeat("A", 44),
		strings.Repeat("A", 42) + "B", // non-canonical final character
		strings.Repeat("A", 42) + "=",
		strings.Repeat("+", 43),
		strings.Repeat("A", 4096),
		"../../etc/passwd",
		"\x00\x01\x02",
		valid.cookie[:42] + "!",
	}
	for _, ck := range cookies {
		r := e.do("GET", "/get?k=a", ck)
		if r.code != http.StatusOK || r.body != "-" {
			t.Errorf("cookie %.20q: status %d body %q, want a fresh session", ck, r.code, r.body)
		}
	}
	if n := e.store.n(""); n != 0 {
		t.Errorf("hostile cookies cost %d store calls, want 0", n)
	}
}

func TestHostileCookieAmongGoodOnes(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	req := httptest.NewRequest("GET", "/get?k=a", nil)
	req.Header.Add("Cookie", session.DefaultCookieName+"=garbage; "+session.DefaultCookieName+"="+c.cookie)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Body.String() != "1" {
		t.Errorf("a bad cookie hid the good one: %q", rec.Body.String())
	}
}

func TestSignedCookies(t *testing.T) {
	oldHash, newHash := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	block := []byte(strings.Repeat("b", 32))
	e := newEnv(t, session.WithKeys(oldHash, block))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	if len(c.cookie) <= 43 {
		t.Fatalf("cookie %q is not signed", c.cookie)
	}
	e.store.reset()
	last := c.cookie[len(c.cookie)-1]
	flip := byte('A')
	if last == 'A' {
		flip = 'B'
	}
	tampered := c.cookie[:len(c.cookie)-1] + string(flip)
	if r := e.do("GET", "/get?k=a", tampered); r.body != "-" {
		t.Errorf("tampered cookie accepted: %q", r.body)
	}
	if n := e.store.n(""); n != 0 {
		t.Errorf("tampered signed cookie cost %d store calls", n)
	}

	// Key rotation: a manager signing with a new pair still verifies the old.
	m2, err := session.New(session.WithStore(e.store), session.WithClock(e.clock.Now),
		session.WithKeys(newHash, block, oldHash, block))
	if err != nil {
		t.Fatal(err)
	}
	e.m = m2
	e.h = wrap(e, e.routes())
	if got := c.get("/get?k=a"); got != "1" {
		t.Fatalf("old-key cookie after key rotation: %q", got)
	}
	// New cookies are signed with the first (new) pair: a manager that
	// knows only the new pair reads them.
	fresh := &client{e: e}
	fresh.do("POST", "/set?k=n&v=new")
	m3, err := session.New(session.WithStore(e.store), session.WithClock(e.clock.Now), session.WithKeys(newHash, block))
	if err != nil {
		t.Fatal(err)
	}
	e.m = m3
	e.h = wrap(e, e.routes())
	if got := fresh.get("/get?k=n"); got != "new" {
		t.Fatalf("cookie issued after key rotation not signed with the new key: %q", got)
	}
	if got := c.get("/get?k=a"); got != "-" {
		t.Fatalf("a manager without the old key accepted an old-key cookie: %q", got)
	}
}

func TestStreamingWritesAfterHeadersAreSaved(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")

	req, _ := http.NewRequest("GET", srv.URL+"/stream", nil)
	req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: c.cookie})
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// The response ends after the handler returned and the late commit ran.
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "first second" {
		t.Fatalf("streamed body %q", body)
	}
	if got := c.get("/get?k=after"); got != "headers" {
		t.Errorf("change after flush not saved: %q", got)
	}
}

func TestResponseControllerReachesUnderlyingWriter(t *testing.T) {
	e := periodic(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.clock.Advance(16 * time.Minute) // a rotation is due
	var hijackErr, deadlineErr error
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		session.Get[string](s, "a")
		s.Set("k", "v")
		rc := http.NewResponseController(w)
		deadlineErr = rc.SetWriteDeadline(timeZero)
		conn, buf, err := rc.Hijack()
		hijackErr = err
		if err == nil {
			buf.WriteString("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
			buf.Flush()
			conn.Close()
		}
	}))
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: c.cookie})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if hijackErr != nil || deadlineErr != nil {
		t.Fatalf("hijack: %v, deadline: %v", hijackErr, deadlineErr)
	}
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("status %d", res.StatusCode)
	}
	// The value was saved before the hijack, and the token was not rotated:
	// a new cookie could not have reached the client.
	e.h = wrap(e, e.routes())
	e.clock.Advance(time.Minute) // past the grace period a rotation would have had
	if r := e.do("GET", "/get?k=k", c.cookie); r.body != "v" {
		t.Errorf("after hijack: k = %q with the unrotated cookie, want v", r.body)
	}
}

var timeZero time.Time

// A connection that cannot be hijacked (HTTP/2, a recorder) makes a WebSocket
// handler answer normally; that response still carries a new session's
// cookie, which a late commit before the failed hijack would have dropped.
func TestFailedHijackKeepsTheSession(t *testing.T) {
	e := newEnv(t)
	var hijackErr error
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("k", "v")
		_, _, hijackErr = http.NewResponseController(w).Hijack()
		http.Error(w, "no upgrade here", http.StatusBadRequest)
	}))
	r := e.serve(newRequest("GET", "/ws"))
	if !errors.Is(hijackErr, http.ErrNotSupported) {
		t.Fatalf("hijack on a recorder: %v, want ErrNotSupported", hijackErr)
	}
	if r.cookie == nil {
		t.Fatalf("the handler answered normally (%d) after a failed hijack, but its new session got no cookie; logs: %s", r.code, e.logs.String())
	}
	e.h = wrap(e, e.routes())
	if got := e.do("GET", "/get?k=k", r.cookie.Value); got.body != "v" {
		t.Errorf("k = %q in the session created next to a failed hijack, want v", got.body)
	}
}

// unwrapHijacker is a logging-style wrapper that always offers Hijack and
// Unwrap, whatever the writer beneath can do.
type unwrapHijacker struct{ http.ResponseWriter }

func (u unwrapHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(u.ResponseWriter).Hijack()
}
func (u unwrapHijacker) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// The same, with the failure behind a wrapper that claims to hijack: the
// writer looks through it before committing.
func TestFailedHijackBehindAWrapperKeepsTheSession(t *testing.T) {
	e := newEnv(t)
	inner := wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("k", "v")
		if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("hijack through the wrapper on a recorder: %v, want ErrNotSupported", err)
		}
		http.Error(w, "no upgrade here", http.StatusBadRequest)
	}))
	e.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(unwrapHijacker{w}, r) })
	r := e.serve(newRequest("GET", "/ws"))
	if r.cookie == nil {
		t.Fatalf("the handler answered normally (%d) after a failed hijack behind a wrapper, but its new session got no cookie; logs: %s", r.code, e.logs.String())
	}
}
