package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tether-go/tether/session"
)

// captureDefault sends slog.Default to a buffer for the test.
func captureDefault(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

// A session outside the middleware says so: Err reports it at once, and each
// place in the code that makes the mistake is logged once, not per request.
func TestFromWithoutMiddlewareIsLoud(t *testing.T) {
	logs := captureDefault(t)
	session.ForgetDetachedSites()
	ctx := httptest.NewRequest("GET", "/", nil).Context()
	for range 3 {
		s := session.From(ctx) // one place, three requests
		s.Set("k", "v")
		if !errors.Is(s.Err(), session.ErrDetached) {
			t.Errorf("Err() = %v, want ErrDetached", s.Err())
		}
		if v, ok := session.Get[string](s, "k"); !ok || v != "v" {
			t.Errorf("a detached session lost a value in memory: %q %v", v, ok)
		}
	}
	session.From(ctx) // another place
	out := logs.String()
	if n := strings.Count(out, "outside the Sessions middleware"); n != 2 {
		t.Errorf("%d log lines, want 2 (one per place): %s", n, out)
	}
	if !strings.Contains(out, "silent_test.go:") {
		t.Errorf("the log does not name the place: %s", out)
	}
}

// Set with a bad key names the key and the reason.
func TestInvalidKeyErrorNamesKeyAndReason(t *testing.T) {
	m := newManager(t)
	for key, reason := range map[string]string{
		"__tether.issued":        "reserved",
		"":                       "empty",
		"a\x00b":                 "NUL",
		"bad\xff":                "UTF-8",
		strings.Repeat("k", 257): "longer than 256",
	} {
		s := m.Begin(httptest.NewRequest("GET", "/", nil))
		s.Set(key, 1)
		err := s.Commit(http.Header{})
		var ke *session.KeyError
		if !errors.Is(err, session.ErrInvalidKey) || !errors.As(err, &ke) || ke.Key != key {
			t.Errorf("Set(%.20q): %v, want a *KeyError for the key", key, err)
			continue
		}
		if !strings.Contains(err.Error(), reason) || !strings.Contains(err.Error(), fmt.Sprintf("%.64q", key)) {
			t.Errorf("Set(%.20q): %q does not name the key and say %q", key, err, reason)
		}
	}
}
