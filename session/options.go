package session

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options. Each option's documentation repeats its default.
const (
	DefaultIdleTimeout  = 30 * time.Minute
	DefaultLifetime     = 24 * time.Hour
	DefaultRotateGrace  = 30 * time.Second
	DefaultStoreTimeout = 2 * time.Second
	DefaultCookieName   = "session"
)

// An Option configures a Manager. Options are applied in order; New validates
// the result as a whole.
type Option func(*config) error

type config struct {
	store       store.Store
	ownStore    bool
	idle        time.Duration
	lifetime    time.Duration
	rotateEvery time.Duration

	rememberIdle, rememberLifetime time.Duration // WithRememberMe; zero: none
	tokenHeader                    string        // WithTokenHeader, canonical; "": cookies only

	rotateGrace  time.Duration
	touchEvery   time.Duration
	storeTimeout time.Duration
	cookie       Cookie
	keys         [][]byte
	codec        Codec
	logger       *slog.Logger
	now          func() time.Time
	observer     Observer
}

// WithStore sets where sessions are kept. The Manager does not close a store
// it was given; the caller does, after closing the Manager.
//
// Default: a [memstore.Store] with its own defaults, created by New and closed
// by Close. It keeps sessions in this process only: fine for one replica or
// sticky routing, lost on restart.
//
// [memstore.Store]: https://pkg.go.dev/github.com/tether-go/tether/store/memstore#Store
func WithStore(s store.Store) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("session: WithStore(nil)")
		}
		c.store = s
		return nil
	}
}

// WithIdleTimeout ends a session after d without activity. It must be
// positive and not longer than the lifetime; to have no idle limit, set it
// equal to the lifetime.
//
// Default: 30 minutes.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error { c.idle = d; return nil }
}

// WithLifetime ends a session d after it was created, however active it is.
// Rotation does not extend it.
//
// Default: 24 hours.
func WithLifetime(d time.Duration) Option {
	return func(c *config) error { c.lifetime = d; return nil }
}

// WithRotateEvery gives a session a new token once its token is d old, on the
// next request that can still set a cookie. Zero turns periodic rotation off;
// rotation on login ([Session.Rotate]) is independent of it.
//
// Default: 0 (off).
func WithRotateEvery(d time.Duration) Option {
	return func(c *config) error { c.rotateEvery = d; return nil }
}

// WithRotateGrace is how long a rotated-away token keeps working: requests
// that were in flight, or sent by another tab before its cookie was updated,
// still find the session and are handed the new cookie. Zero kills the old
// token at once.
//
// Default: 30 seconds.
func WithRotateGrace(d time.Duration) Option {
	return func(c *config) error { c.rotateGrace = d; return nil }
}

// WithTouchInterval is how often, at most, a request that only reads its
// session extends the idle deadline in the store. A smaller value tracks
// activity more exactly at the cost of more writes. It must be positive and
// at most half the idle timeout.
//
// Default: a tenth of the idle timeout (3 minutes for 30 minutes).
func WithTouchInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("session: touch interval %v must be positive", d)
		}
		c.touchEvery = d
		return nil
	}
}

// WithStoreTimeout bounds every store call. A call that overruns fails, and
// the request gets the error response instead of hanging.
//
// Default: 2 seconds.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) error { c.storeTimeout = d; return nil }
}

// WithCookie sets the session cookie's attributes. It replaces the defaults
// as a whole, so start from [DefaultCookie] to change one field. An empty Name
// is an error; an empty Path means "/".
//
// Default: [DefaultCookie]: name "session", path "/", Secure, HttpOnly,
// SameSite=Lax, persistent.
func WithCookie(ck Cookie) Option {
	return func(c *config) error {
		if ck.Name == "" {
			return errors.New("session: WithCookie: empty cookie name")
		}
		if !validCookieName(ck.Name) {
			return fmt.Errorf("session: WithCookie: invalid cookie name %q", ck.Name)
		}
		if ck.Path == "" {
			ck.Path = "/"
		}
		c.cookie = ck
		return nil
	}
}

// WithKeys signs the cookie value with HMAC-SHA256 and, if a block key is
// given, encrypts it with AES, using gorilla/securecookie. Keys come in pairs
// (hash key, block key); the first pair signs, every pair verifies, so keys
// rotate without logging anyone out: put the new pair first and drop the old
// pair after the session lifetime. A hash key must be at least 32 bytes; a
// block key is nil (sign only) or 16, 24 or 32 bytes.
//
// Tokens are already unguessable, so keys are defence in depth: a forged or
// tampered cookie is rejected without a store round trip, and a stolen store
// dump cannot be turned into cookies even with the hashing undone.
//
// Default: no keys; the cookie holds the bare token.
func WithKeys(pairs ...[]byte) Option {
	return func(c *config) error {
		if len(pairs) == 0 || len(pairs)%2 != 0 {
			return errors.New("session: WithKeys: keys come in (hash, block) pairs")
		}
		for i := 0; i < len(pairs); i += 2 {
			if len(pairs[i]) < 32 {
				return fmt.Errorf("session: WithKeys: hash key %d is %d bytes, want at least 32", i/2, len(pairs[i]))
			}
			switch len(pairs[i+1]) {
			case 0, 16, 24, 32:
			default:
				return fmt.Errorf("session: WithKeys: block key %d is %d bytes, want 0, 16, 24 or 32", i/2, len(pairs[i+1]))
			}
		}
		c.keys = make([][]byte, len(pairs))
		for i, k := range pairs {
			c.keys[i] = bytes.Clone(k) // the caller may zero or reuse its slices
		}
		return nil
	}
}

// WithCodec sets how values are encoded. Values are encoded per key, so a
// commit carries only the keys a request changed.
//
// Default: [JSONCodec], which needs no type registration.
func WithCodec(cd Codec) Option {
	return func(c *config) error {
		if cd == nil {
			return errors.New("session: WithCodec(nil)")
		}
		c.codec = cd
		return nil
	}
}

// WithLogger sets where the Manager reports what it cannot return to anyone:
// writes dropped because their session was destroyed, changes made after the
// response headers went out that could not be saved.
//
// Default: [slog.Default] at the time New is called.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("session: WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}

// WithClock sets the Manager's source of time, for tests.
//
// Default: [time.Now].
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("session: WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

func defaultConfig() config {
	return config{
		idle:         DefaultIdleTimeout,
		lifetime:     DefaultLifetime,
		rotateGrace:  DefaultRotateGrace,
		storeTimeout: DefaultStoreTimeout,
		cookie:       DefaultCookie(),
		codec:        JSONCodec{},
		now:          time.Now,
	}
}

func (c *config) validate() error {
	switch {
	case c.lifetime <= 0:
		return fmt.Errorf("session: lifetime %v must be positive", c.lifetime)
	case c.idle <= 0:
		return fmt.Errorf("session: idle timeout %v must be positive", c.idle)
	case c.idle > c.lifetime:
		return fmt.Errorf("session: idle timeout %v is longer than the lifetime %v", c.idle, c.lifetime)
	case c.rotateEvery < 0:
		return fmt.Errorf("session: rotate-every %v must not be negative", c.rotateEvery)
	case c.rotateGrace < 0:
		return fmt.Errorf("session: rotate grace %v must not be negative", c.rotateGrace)
	case c.storeTimeout <= 0:
		return fmt.Errorf("session: store timeout %v must be positive", c.storeTimeout)
	case c.touchEvery > c.idle/2:
		return fmt.Errorf("session: touch interval %v is more than half the idle timeout %v", c.touchEvery, c.idle)
	case c.cookie.SameSite == http.SameSiteNoneMode && !c.cookie.Secure:
		return errors.New("session: SameSite=None cookies must be Secure")
	}
	return nil
}
