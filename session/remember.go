package session

import (
	"fmt"
	"time"
)

// WithRememberMe gives sessions whose user ticked "remember me"
// ([Session.RememberMe] with true) their own idle timeout and lifetime,
// typically days where the defaults are minutes and hours. They apply from the
// request that calls RememberMe(true) on, and RememberMe(false) returns the
// session to [WithIdleTimeout] and [WithLifetime], counted from the session's
// start (a session older than the default lifetime then ends). Both must be
// positive, with idle not longer than lifetime.
//
// Default: none: RememberMe changes only whether the cookie outlives the
// browser.
func WithRememberMe(idle, lifetime time.Duration) Option {
	return func(c *config) error {
		if idle <= 0 || lifetime <= 0 || idle > lifetime {
			return fmt.Errorf("session: WithRememberMe(%v, %v): both must be positive, idle not longer than lifetime", idle, lifetime)
		}
		c.rememberIdle, c.rememberLifetime = idle, lifetime
		return nil
	}
}

// remembered reports whether the user chose "remember me" for this session.
func (s *Session) remembered() bool {
	if s.persist != nil {
		return *s.persist
	}
	if s.base == nil {
		return false
	}
	v, ok := s.base.Values.Lookup(keyPersist)
	return ok && string(v) == "1"
}

// limits returns the session's idle timeout and lifetime.
func (s *Session) limits() (idle, lifetime time.Duration) {
	if s.m.cfg.rememberLifetime > 0 && s.remembered() {
		return s.m.cfg.rememberIdle, s.m.cfg.rememberLifetime
	}
	return s.m.cfg.idle, s.m.cfg.lifetime
}

// deadline is when the session, created at created and active at lastSeen,
// ends.
func (s *Session) deadline(created, lastSeen time.Time) time.Time {
	idle, lifetime := s.limits()
	if abs := created.Add(lifetime); abs.Before(lastSeen.Add(idle)) {
		return abs
	}
	return lastSeen.Add(idle)
}
