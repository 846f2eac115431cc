package memcachestore

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of the options. Each option's documentation repeats its default.
const (
	// DefaultKeyPrefix starts every key the store writes.
	DefaultKeyPrefix = "tether:"

	// DefaultMaxItemSize is memcached's default item size limit (-I 1m)
	// less room for the item header and the longest key: the largest value
	// a stock memcached accepts with a 250-byte key is a little over it.
	DefaultMaxItemSize = 1<<20 - 512

	// DefaultCASRetries bounds the compare-and-swap attempts of one write.
	// It is sized so that 100 requests writing one session at the same
	// moment all succeed (see the package documentation, "Contention").
	DefaultCASRetries = 32
)

// maxPrefixLen keeps prefix + "s:" + a 64-byte ID within memcached's 250-byte
// key limit.
const maxPrefixLen = 250 - 2 - 64

// Option configures a [Store] in [New]. A non-positive number selects the
// option's default.
type Option func(*config)

type config struct {
	prefix      string
	maxItemSize int
	casRetries  int
	logger      *slog.Logger
	now         func() time.Time // tests only; see export_test.go
}

// WithKeyPrefix sets the prefix of every key the store writes, so that several
// applications (or tests) can share memcached servers. The prefix must be a
// valid part of a memcached key: at most 184 bytes, no spaces or control
// characters. Records live under prefix+"s:"+id, user indexes under
// prefix+"u:"+hex(sha256(userID)).
//
// default: "tether:" ([DefaultKeyPrefix])
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithMaxItemSize sets the largest encoded record, in bytes, the store writes.
// A commit whose record would be larger fails with a [*store.TooLargeError]
// before anything is sent, and the stored record stays as it was. Set it to
// the servers' item size limit (memcached's -I) less 512 bytes for the item
// header and key; a server that refuses an item anyway is reported with an
// error matching [store.ErrTooLarge] too, and memcached leaves the old item
// in place for the commands this store uses (add, cas).
//
// default: 1 MiB - 512 bytes ([DefaultMaxItemSize]), for memcached's default
// -I 1m
func WithMaxItemSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxItemSize = n
		}
	}
}

// WithCASRetries bounds how many times one write (Commit, Touch, Move, an
// index update) reads the item and tries to swap it before it gives up with
// an error matching [store.ErrConflict]. Attempts after a conflict wait a
// short random, growing time, so that contending writers spread out; the
// caller's context bounds the whole loop as well.
//
// default: 32 ([DefaultCASRetries])
func WithCASRetries(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.casRetries = n
		}
	}
}

// WithLogger sets where the store reports what it cannot return to anyone:
// best-effort user index clean-ups that failed, and corrupt items it met.
// Nothing is logged on the normal path.
//
// default: [slog.Default] at the time New is called
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// validate reports a configuration the store cannot work with.
func (c *config) validate() error {
	if len(c.prefix) > maxPrefixLen {
		return fmt.Errorf("memcachestore: key prefix is %d bytes, more than %d", len(c.prefix), maxPrefixLen)
	}
	if !legalKeyPart(c.prefix) {
		return fmt.Errorf("memcachestore: key prefix %q holds a space or control character", c.prefix)
	}
	return nil
}

// legalKeyPart reports whether s may appear in a memcached key of the text
// protocol: no spaces, no control characters.
func legalKeyPart(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}
