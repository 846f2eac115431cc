package memcachestore

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options. Each option's documentation repeats its default.
const (
	// DefaultKeyPrefix starts every key the store writes.
	DefaultKeyPrefix = "tether:"

	// DefaultMaxRecordSize is the default per-record limit, the same on
	// every backend: [store.DefaultMaxRecordSize] bytes of value keys,
	// values and user id, as [store.Record.Size] counts them.
	DefaultMaxRecordSize = store.DefaultMaxRecordSize

	// DefaultMaxItemSize is the largest encoded item the store sends by
	// default: memcached started with -I 2m, less room for the item header
	// and the longest key. -I 2m is what a record of the default 1 MiB
	// limit needs: its encoding adds length prefixes and a header (a few
	// dozen bytes for a record of a few values; 71%, to 1.71 MiB, for one
	// of hundreds of thousands of empty values under 1 to 3-byte keys, the
	// worst case), and memcached adds its item header and the key.
	DefaultMaxItemSize = 2<<20 - 512

	// DefaultCASRetries bounds the compare-and-swap attempts of one write.
	// It is sized so that 100 requests writing one session at the same
	// moment all succeed (see the package documentation, "Atomic deltas").
	DefaultCASRetries = 32
)

// maxPrefixLen keeps prefix + "s:" + a 64-byte ID within memcached's 250-byte
// key limit.
const maxPrefixLen = 250 - 2 - 64

// Option configures a [Store] in [New]. A non-positive number selects the
// option's default.
type Option func(*config)

type config struct {
	prefix        string
	maxRecordSize int
	maxItemSize   int
	casRetries    int
	logger        *slog.Logger
	now           func() time.Time // tests only; see export_test.go
	afterRead     func(key string) // tests only: runs after each read of a compare-and-swap loop
	afterIndex    func()           // tests only: runs in UserSessions after its read of the index
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

// WithMaxRecordSize sets the per-record limit: the largest record, in bytes
// of value keys, values and user id ([store.Record.Size]), a commit may
// leave. A commit whose record would be larger fails with a
// [*store.TooLargeError] (Limit is n) before anything is sent, and the stored
// record stays as it was. The limit is the same on every backend by default,
// so that a session that fits in one fits in all; it counts what the
// application stored, not the encoding, which [WithMaxItemSize] bounds.
//
// default: 1 MiB ([DefaultMaxRecordSize], [store.DefaultMaxRecordSize])
func WithMaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecordSize = n
		}
	}
}

// WithMaxItemSize sets the largest encoded item, in bytes, the store sends:
// the servers' item size limit (memcached's -I) less 512 bytes for the item
// header and key. A commit whose encoded record would be larger fails with a
// [*store.TooLargeError] (Limit is n) before anything is sent, and the
// stored record stays as it was. A server that refuses an item anyway (its
// -I is below what this option promises) is reported with an error matching
// [store.ErrTooLarge] too, and memcached leaves the old item in place for
// the commands this store uses (add, cas).
//
// A record within the default [WithMaxRecordSize] of 1 MiB encodes to at
// most about 1.75 MiB: run memcached with -I 2m to store every such record.
// With memcached's own default, -I 1m, set this option to 1 MiB - 512 bytes:
// records of nearly 1 MiB are then refused by this limit, before the record
// limit is reached.
//
// default: 2 MiB - 512 bytes ([DefaultMaxItemSize]), for memcached -I 2m
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
