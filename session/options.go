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

// An Option configures a Manager. The order of options does not matter
// (except that an option given twice keeps its last value); New validates the
// result as a whole.
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
	storeBudget  time.Duration
	cookie       Cookie
	cookieName   string // WithCookieName: replaces cookie.Name, whatever the order
	keys         [][]byte
	codec        Codec
	logger       *slog.Logger
	now          func() time.Time
	observer     Observer

	set struct{ idle, lifetime, touch, storeTimeout, storeBudget, cookie bool }
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
// Default: 30 minutes, or the lifetime if [WithLifetime] sets a shorter one.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error { c.idle, c.set.idle = d, true; return nil }
}

// WithLifetime ends a session d after it was created, however active it is.
// Rotation does not extend it. It must be positive.
//
// Default: 24 hours, or the idle timeout if [WithIdleTimeout] sets a longer
// one.
func WithLifetime(d time.Duration) Option {
	return func(c *config) error { c.lifetime, c.set.lifetime = d, true; return nil }
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
	return func(c *config) error { c.touchEvery, c.set.touch = d, true; return nil }
}

// WithStoreTimeout bounds every store call. A call that overruns fails, and
// the request gets the error response (503 by default) instead of hanging.
// It must be positive.
//
// Default: 2 seconds, or the store budget if [WithStoreBudget] sets a
// shorter one.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) error { c.storeTimeout, c.set.storeTimeout = d, true; return nil }
}

// WithStoreBudget bounds the time all the store calls of one request take
// together: each call's deadline is the earlier of the store timeout and what
// is left of the budget, and a call the budget has no time left for fails
// with [ErrBudgetSpent] without reaching the store. A request makes several
// calls when it logs out and sets a flash, retries a contended rotation, or
// carries several dead cookies; without a budget, a slow store could hold it
// for many store timeouts. Time the handler spends elsewhere does not count.
// Each call of [Manager.UserSessions], [Manager.DestroyUser] and
// [Manager.DestroySession] has a budget of its own. d must be
// positive and, if the store timeout is set too, at least the store timeout.
//
// Default: twice the store timeout (4 seconds).
func WithStoreBudget(d time.Duration) Option {
	return func(c *config) error { c.storeBudget, c.set.storeBudget = d, true; return nil }
}

// WithCookie sets every attribute of the session cookie at once.
//
// It REPLACES THE SECURE DEFAULTS AS A WHOLE: a field left at its zero value
// is off, so WithCookie(Cookie{Name: "sid"}) sends a cookie without Secure,
// HttpOnly or SameSite that does not persist. To change the name only, use
// [WithCookieName]; to change another field, start from [DefaultCookie]:
//
//	ck := session.DefaultCookie()
//	ck.Domain = "example.com"
//	session.WithCookie(ck)
//
// New refuses an empty or invalid Name, a Path or Domain a browser would
// reject or that net/http would drop, SameSite=None without Secure, and the
// "__Secure-" and "__Host-" name prefixes without the attributes browsers
// require of them. An empty Path means "/".
//
// Default: [DefaultCookie]: name "session", path "/", Secure, HttpOnly,
// SameSite=Lax, persistent.
func WithCookie(ck Cookie) Option {
	return func(c *config) error {
		if ck.Path == "" {
			ck.Path = "/"
		}
		c.cookie, c.set.cookie = ck, true
		return nil
	}
}

// WithCookieName sets the session cookie's name and keeps every other
// attribute: the secure defaults of [DefaultCookie], or those of
// [WithCookie], in whichever order the two are given. A name with the
// "__Host-" prefix needs the defaults' Secure and Path "/" and no Domain.
//
// Default: "session".
func WithCookieName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("session: WithCookieName: empty cookie name")
		}
		c.cookieName = name
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

// resolve fills in the defaults that depend on other settings. A default
// never makes a setting the user chose fail: it gives way (an idle timeout
// the user did not set shrinks to a shorter lifetime they did set, and so
// on). Only settings the user made can conflict.
func (c *config) resolve() {
	switch {
	case c.set.lifetime && !c.set.idle && c.lifetime > 0 && c.idle > c.lifetime:
		c.idle = c.lifetime
	case c.set.idle && !c.set.lifetime && c.idle > c.lifetime:
		c.lifetime = c.idle
	}
	if !c.set.touch && c.idle > 0 {
		c.touchEvery = c.idle / 10
	}
	if c.set.storeBudget && !c.set.storeTimeout && c.storeBudget > 0 && c.storeTimeout > c.storeBudget {
		c.storeTimeout = c.storeBudget
	}
	if !c.set.storeBudget {
		c.storeBudget = 2 * c.storeTimeout
	}
	if c.cookieName != "" {
		c.cookie.Name = c.cookieName
	}
}

// validate checks the resolved configuration. Its messages name the options
// involved and say which value is a default.
func (c *config) validate() error {
	def := func(set bool) string {
		if set {
			return ""
		}
		return " (the default)"
	}
	switch {
	case c.lifetime <= 0:
		return fmt.Errorf("session: WithLifetime(%v): the lifetime must be positive", c.lifetime)
	case c.idle <= 0:
		return fmt.Errorf("session: WithIdleTimeout(%v): the idle timeout must be positive", c.idle)
	case c.idle > c.lifetime:
		return fmt.Errorf("session: idle timeout %v is longer than the lifetime %v", c.idle, c.lifetime)
	case c.rotateEvery < 0:
		return fmt.Errorf("session: WithRotateEvery(%v) must not be negative (0 turns it off)", c.rotateEvery)
	case c.rotateGrace < 0:
		return fmt.Errorf("session: WithRotateGrace(%v) must not be negative (0 kills the old token at once)", c.rotateGrace)
	case c.touchEvery <= 0:
		return fmt.Errorf("session: WithTouchInterval(%v): the touch interval must be positive", c.touchEvery)
	case c.touchEvery > c.idle/2:
		return fmt.Errorf("session: touch interval %v is more than half the idle timeout %v%s; set a shorter WithTouchInterval or a longer WithIdleTimeout",
			c.touchEvery, c.idle, def(c.set.idle))
	case c.storeTimeout <= 0:
		return fmt.Errorf("session: WithStoreTimeout(%v): the store timeout must be positive", c.storeTimeout)
	case c.storeBudget <= 0:
		return fmt.Errorf("session: WithStoreBudget(%v): the store budget must be positive", c.storeBudget)
	case c.storeBudget < c.storeTimeout:
		return fmt.Errorf("session: store budget %v is shorter than the store timeout %v: no call could use its timeout", c.storeBudget, c.storeTimeout)
	}
	return c.cookie.validate()
}

// warn logs settings that are valid but probably not what was meant.
func (c *config) warn(log *slog.Logger) {
	ck := c.cookie
	if c.set.cookie && !ck.Secure && !ck.HTTPOnly && (ck.SameSite == 0 || ck.SameSite == http.SameSiteDefaultMode) {
		log.Warn("session: the session cookie has none of Secure, HttpOnly and SameSite: WithCookie replaces the defaults as a whole; use WithCookieName, or start from DefaultCookie(), to keep them",
			"cookie", ck.Name)
	}
}
