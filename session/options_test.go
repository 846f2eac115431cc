package session

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsInvalidConfiguration(t *testing.T) {
	hash := []byte(strings.Repeat("h", 32))
	tests := []struct {
		name string
		opts []Option
	}{
		{"zero lifetime", []Option{WithLifetime(0)}},
		{"negative idle", []Option{WithIdleTimeout(-time.Second)}},
		{"idle above lifetime", []Option{WithIdleTimeout(2 * time.Hour), WithLifetime(time.Hour)}},
		{"negative rotate-every", []Option{WithRotateEvery(-1)}},
		{"negative grace", []Option{WithRotateGrace(-1)}},
		{"zero store timeout", []Option{WithStoreTimeout(0)}},
		{"zero touch interval", []Option{WithTouchInterval(0)}},
		{"touch above half idle", []Option{WithIdleTimeout(time.Minute), WithTouchInterval(31 * time.Second)}},
		{"empty cookie name", []Option{WithCookie(Cookie{})}},
		{"bad cookie name", []Option{WithCookie(Cookie{Name: "a;b"})}},
		{"SameSite=None insecure", []Option{WithCookie(Cookie{Name: "s", SameSite: http.SameSiteNoneMode})}},
		{"odd keys", []Option{WithKeys(hash)}},
		{"short hash key", []Option{WithKeys([]byte("short"), nil)}},
		{"bad block key", []Option{WithKeys(hash, []byte("123"))}},
		{"nil store", []Option{WithStore(nil)}},
		{"nil codec", []Option{WithCodec(nil)}},
		{"nil logger", []Option{WithLogger(nil)}},
		{"nil clock", []Option{WithClock(nil)}},
	}
	for _, tt := range tests {
		m, err := New(tt.opts...)
		if err == nil {
			m.Close()
			t.Errorf("%s: New succeeded, want an error", tt.name)
		}
	}
}

func TestDefaults(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.cfg
	if c.idle != 30*time.Minute || c.lifetime != 24*time.Hour || c.rotateEvery != 0 ||
		c.rotateGrace != 30*time.Second || c.touchEvery != 3*time.Minute || c.storeTimeout != 2*time.Second {
		t.Errorf("defaults = %+v", c)
	}
	if !c.cookie.Secure || !c.cookie.HTTPOnly || c.cookie.SameSite != http.SameSiteLaxMode || c.cookie.Name != "session" {
		t.Errorf("default cookie = %+v", c.cookie)
	}
}
