package session_test

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tether-go/tether/session"
)

func begin(t *testing.T, m *session.Manager, cookie *http.Cookie) *session.Session {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return m.Begin(r)
}

func commit(t *testing.T, s *session.Session) (*http.Cookie, error) {
	t.Helper()
	h := http.Header{}
	err := s.Commit(h)
	res := http.Response{Header: h}
	for _, c := range res.Cookies() {
		return c, err
	}
	return nil, err
}

func newManager(t *testing.T, opts ...session.Option) *session.Manager {
	t.Helper()
	m, err := session.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestInvalidKeysFailTheCommit(t *testing.T) {
	m := newManager(t)
	for _, key := range []string{"", "__tether.flash.x", "a\x00b", string([]byte{0xff}), strings.Repeat("k", 257)} {
		s := begin(t, m, nil)
		s.Set(key, 1)
		if _, err := commit(t, s); !errors.Is(err, session.ErrInvalidKey) {
			t.Errorf("Set(%q): commit error %v, want ErrInvalidKey", key, err)
		}
	}
	s := begin(t, m, nil)
	s.Set(strings.Repeat("k", 256), 1)
	if _, err := commit(t, s); err != nil {
		t.Errorf("a 256-byte key: %v", err)
	}
}

func TestUnencodableValueFailsTheCommit(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.Set("nan", math.NaN())
	_, err := commit(t, s)
	var ee *session.EncodeError
	if !errors.As(err, &ee) || ee.Key != "nan" {
		t.Fatalf("commit error %v, want an EncodeError for key nan", err)
	}
}

func TestGetWrongTypeReadsAsMissing(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.Set("n", "not a number")
	ck, err := commit(t, s)
	if err != nil {
		t.Fatal(err)
	}
	s = begin(t, m, ck)
	if v, ok := session.Get[int](s, "n"); ok {
		t.Errorf("Get[int] of a string = %v, true", v)
	}
	if v, ok := session.Get[string](s, "n"); !ok || v != "not a number" {
		t.Errorf("Get[string] = %q, %v", v, ok)
	}
}

func TestClearAndKeys(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.Set("a", 1)
	s.Set("b", 2)
	s.AddFlash("hi")
	ck, err := commit(t, s)
	if err != nil {
		t.Fatal(err)
	}
	s = begin(t, m, ck)
	if got := strings.Join(s.Keys(), ","); got != "a,b" {
		t.Fatalf("keys = %q", got)
	}
	s.Clear()
	s.Set("c", 3)
	if _, err := commit(t, s); err != nil {
		t.Fatal(err)
	}
	s = begin(t, m, ck)
	if got := strings.Join(s.Keys(), ","); got != "c" {
		t.Fatalf("keys after Clear+Set = %q, want c", got)
	}
}

func TestRememberMe(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.Set("a", 1)
	s.RememberMe(false)
	ck, err := commit(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if ck.MaxAge != 0 || !ck.Expires.IsZero() {
		t.Fatalf("RememberMe(false): cookie has an expiry: %+v", ck)
	}
	s = begin(t, m, ck)
	s.RememberMe(true)
	ck2, err := commit(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if ck2 == nil || ck2.Value != ck.Value || ck2.MaxAge <= 0 {
		t.Fatalf("RememberMe(true): cookie %+v, want the same token, persistent", ck2)
	}
	// The choice is kept: a rotation re-issues a browser-session cookie.
	s = begin(t, m, ck)
	s.RememberMe(false)
	commit(t, s)
	s = begin(t, m, ck)
	s.Rotate()
	ck3, err := commit(t, s)
	if err != nil || ck3 == nil || ck3.MaxAge != 0 {
		t.Fatalf("rotated cookie %+v (%v), want a browser-session cookie", ck3, err)
	}
}

func TestRequestWithoutChangesWritesNothing(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	session.Get[int](s, "x")
	ck, err := commit(t, s)
	if err != nil || ck != nil {
		t.Fatalf("reading an empty session: cookie %v, err %v; want neither", ck, err)
	}
}

// A commit that finds another request's write between its load and its own
// write must not go on reading its stale copy: the other request's key is
// visible afterwards.
func TestReadAfterCommitSeesConcurrentWrites(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.Set("a", 1)
	ck, err := commit(t, s)
	if err != nil {
		t.Fatal(err)
	}
	first := begin(t, m, ck)
	session.Get[int](first, "a") // loads
	other := begin(t, m, ck)
	other.Set("b", 2)
	if _, err := commit(t, other); err != nil {
		t.Fatal(err)
	}
	first.Set("c", 3)
	if _, err := commit(t, first); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(first.Keys(), ","); got != "a,b,c" {
		t.Fatalf("keys after committing over a concurrent write = %q, want a,b,c", got)
	}
}

func TestCommitAfterCloseFails(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.Set("a", 1)
	m.Close()
	if _, err := commit(t, s); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("commit after Close: %v, want ErrClosed", err)
	}
}
