package session

import (
	"bytes"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// A default must never make a valid choice fail: it gives way to the
// settings the user made.
func TestDefaultsGiveWayToSettings(t *testing.T) {
	tests := []struct {
		name                  string
		opts                  []Option
		idle, lifetime, touch time.Duration
		storeTimeout, budget  time.Duration
	}{
		{"short lifetime alone", []Option{WithLifetime(10 * time.Minute)},
			10 * time.Minute, 10 * time.Minute, time.Minute, 2 * time.Second, 4 * time.Second},
		{"long idle alone", []Option{WithIdleTimeout(48 * time.Hour)},
			48 * time.Hour, 48 * time.Hour, 288 * time.Minute, 2 * time.Second, 4 * time.Second},
		{"store timeout alone", []Option{WithStoreTimeout(5 * time.Second)},
			30 * time.Minute, 24 * time.Hour, 3 * time.Minute, 5 * time.Second, 10 * time.Second},
		{"short budget alone", []Option{WithStoreBudget(time.Second)},
			30 * time.Minute, 24 * time.Hour, 3 * time.Minute, time.Second, time.Second},
		{"touch after idle", []Option{WithTouchInterval(2 * time.Minute), WithIdleTimeout(5 * time.Minute)},
			5 * time.Minute, 24 * time.Hour, 2 * time.Minute, 2 * time.Second, 4 * time.Second},
	}
	for _, tt := range tests {
		m, err := New(tt.opts...)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		c := m.cfg
		m.Close()
		if c.idle != tt.idle || c.lifetime != tt.lifetime || c.touchEvery != tt.touch || c.storeTimeout != tt.storeTimeout || c.storeBudget != tt.budget {
			t.Errorf("%s: idle %v lifetime %v touch %v timeout %v budget %v, want %v %v %v %v %v", tt.name,
				c.idle, c.lifetime, c.touchEvery, c.storeTimeout, c.storeBudget, tt.idle, tt.lifetime, tt.touch, tt.storeTimeout, tt.budget)
		}
	}
}

// Settings the user made still conflict, with a message that names them.
func TestConflictingSettingsFail(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"idle above lifetime", []Option{WithIdleTimeout(2 * time.Hour), WithLifetime(time.Hour)}, "longer than the lifetime"},
		{"touch above half of the default idle", []Option{WithTouchInterval(20 * time.Minute)}, "(the default)"},
		{"touch equal to idle", []Option{WithTouchInterval(5 * time.Minute), WithIdleTimeout(5 * time.Minute)}, "more than half"},
		{"budget below timeout", []Option{WithStoreBudget(time.Second), WithStoreTimeout(2 * time.Second)}, "shorter than the store timeout"},
		{"zero budget", []Option{WithStoreBudget(0)}, "must be positive"},
		{"negative touch", []Option{WithTouchInterval(-time.Second)}, "must be positive"},
	}
	for _, tt := range tests {
		m, err := New(tt.opts...)
		if err == nil {
			m.Close()
			t.Errorf("%s: New succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not say %q", tt.name, err, tt.want)
		}
	}
}

// The order of options does not matter: every pair of these, in both orders,
// gives the same result.
func TestOptionOrderDoesNotMatter(t *testing.T) {
	opts := map[string]Option{
		"idle 5m":           WithIdleTimeout(5 * time.Minute),
		"idle 2h":           WithIdleTimeout(2 * time.Hour),
		"lifetime 10m":      WithLifetime(10 * time.Minute),
		"lifetime 1h":       WithLifetime(time.Hour),
		"touch 2m":          WithTouchInterval(2 * time.Minute),
		"touch 5m":          WithTouchInterval(5 * time.Minute),
		"timeout 3s":        WithStoreTimeout(3 * time.Second),
		"budget 1s":         WithStoreBudget(time.Second),
		"budget 10s":        WithStoreBudget(10 * time.Second),
		"cookiename sid":    WithCookieName("sid"),
		"cookiename __Host": WithCookieName("__Host-sid"),
		"cookie":            WithCookie(Cookie{Name: "other", Path: "/app", Secure: true}),
	}
	// Two values of one option: the last wins, by design.
	same := func(a, b string) bool {
		ka, _, _ := strings.Cut(a, " ")
		kb, _, _ := strings.Cut(b, " ")
		return ka == kb
	}
	names := make([]string, 0, len(opts))
	for n := range opts {
		names = append(names, n)
	}
	slices.Sort(names)
	result := func(a, b Option) string {
		m, err := New(a, b, WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return "error"
		}
		defer m.Close()
		c := m.cfg
		return strings.Join([]string{c.idle.String(), c.lifetime.String(), c.touchEvery.String(),
			c.storeTimeout.String(), c.storeBudget.String(), c.cookie.Name, c.cookie.Path}, " ")
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			if same(a, b) {
				continue
			}
			ab, ba := result(opts[a], opts[b]), result(opts[b], opts[a])
			if ab != ba {
				t.Errorf("%s, %s: %s; in the other order: %s", a, b, ab, ba)
			}
		}
	}
}

func TestWithCookieNameKeepsSecureDefaults(t *testing.T) {
	for _, opts := range [][]Option{
		{WithCookieName("sid")},
		{WithCookieName("__Host-sid")},
		{WithCookieName("sid"), WithCookie(DefaultCookie())},
		{WithCookie(DefaultCookie()), WithCookieName("sid")},
	} {
		m, err := New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultCookie()
		want.Name = m.cfg.cookie.Name
		if got := m.cfg.cookie; got != want || !strings.HasSuffix(got.Name, "sid") || m.CookieName() != got.Name {
			t.Errorf("cookie %+v, want the defaults with the name set: %+v", got, want)
		}
		m.Close()
	}
}

func TestWithCookieWithoutSecureAttributesWarns(t *testing.T) {
	var logs bytes.Buffer
	m, err := New(WithCookie(Cookie{Name: "sid"}), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if !strings.Contains(logs.String(), "WithCookieName") {
		t.Errorf("no warning that WithCookie dropped the secure defaults: %q", logs.String())
	}
	logs.Reset()
	m, err = New(WithCookieName("sid"), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if logs.Len() != 0 {
		t.Errorf("warning for the secure defaults: %q", logs.String())
	}
}

func TestCookieAttributesAreValidated(t *testing.T) {
	secure := func(f func(*Cookie)) Option {
		ck := DefaultCookie()
		f(&ck)
		return WithCookie(ck)
	}
	bad := map[string]Option{
		"path with ;":           secure(func(c *Cookie) { c.Path = "/a;b" }),
		"path with control":     secure(func(c *Cookie) { c.Path = "/a\x01" }),
		"path with non-ASCII":   secure(func(c *Cookie) { c.Path = "/é" }),
		"relative path":         secure(func(c *Cookie) { c.Path = "app" }),
		"domain with space":     secure(func(c *Cookie) { c.Domain = "exa mple.com" }),
		"domain with ;":         secure(func(c *Cookie) { c.Domain = "example.com;x" }),
		"domain with port":      secure(func(c *Cookie) { c.Domain = "example.com:8080" }),
		"__Host- with domain":   secure(func(c *Cookie) { c.Name, c.Domain = "__Host-s", "example.com" }),
		"__Host- with path":     secure(func(c *Cookie) { c.Name, c.Path = "__Host-s", "/app" }),
		"__Host- not secure":    secure(func(c *Cookie) { c.Name, c.Secure = "__Host-s", false }),
		"__host- lower case":    secure(func(c *Cookie) { c.Name, c.Secure = "__host-s", false }),
		"__Secure- not secure":  secure(func(c *Cookie) { c.Name, c.Secure = "__Secure-s", false }),
		"WithCookieName __Host": WithCookieName("__Host-s"), // combined below with a Domain
		"empty name":            WithCookieName(""),
		"bad name":              WithCookieName("a b"),
	}
	for name, o := range bad {
		opts := []Option{o}
		if name == "WithCookieName __Host" {
			opts = append(opts, secure(func(c *Cookie) { c.Domain = "example.com" }))
		}
		if m, err := New(opts...); err == nil {
			m.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
	good := []Option{
		secure(func(c *Cookie) { c.Domain = "example.com" }),
		secure(func(c *Cookie) { c.Domain = ".example.com" }),
		secure(func(c *Cookie) { c.Path = "/app/v1" }),
		secure(func(c *Cookie) { c.Name = "__Secure-s"; c.Domain = "example.com" }),
		secure(func(c *Cookie) { c.Name = "__Host-s" }),
		WithCookie(Cookie{Name: "s", SameSite: http.SameSiteNoneMode, Secure: true}),
	}
	for i, o := range good {
		m, err := New(o)
		if err != nil {
			t.Errorf("good cookie %d: %v", i, err)
			continue
		}
		m.Close()
	}
}
