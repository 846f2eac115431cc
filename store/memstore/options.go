package memstore

import (
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options.
const (
	DefaultMaxEntries      = 1_000_000
	DefaultMaxBytes        = 256 << 20 // 256 MiB
	DefaultCleanupInterval = time.Minute

	// DefaultMaxRecordSize is the per-record limit every Tether backend
	// applies by default (see [store.DefaultMaxRecordSize]).
	DefaultMaxRecordSize = store.DefaultMaxRecordSize
)

// Option configures a [Store] in [New]. A non-positive number or duration
// selects the option's default.
type Option func(*config)

type config struct {
	maxEntries      int
	maxBytes        int64
	maxRecordSize   int
	cleanupInterval time.Duration
	now             func() time.Time
}

// WithMaxEntries bounds the number of records (sessions and tombstones, expired
// ones until a sweep removes them). Past it, the store evicts.
//
// default: 1,000,000 ([DefaultMaxEntries])
func WithMaxEntries(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxEntries = n
		}
	}
}

// WithMaxBytes bounds the bytes the records take, counted as the length of
// each record's ID plus its [store.Record.Size] (keys, values, user id,
// tombstone). Past it, the store evicts; a single record larger than n is
// refused with a [*store.TooLargeError] (as is one over [WithMaxRecordSize]). The Go runtime's own overhead per
// record (map entries, the record struct: a few hundred bytes) is not counted.
//
// default: 256 MiB ([DefaultMaxBytes])
func WithMaxBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBytes = n
		}
	}
}

// WithMaxRecordSize bounds one record: its keys, values and user id as
// [store.Record.Size] counts them, the same measure every Tether backend
// limits, so a session that fits here fits on Redis, Memcached and Postgres
// too. A commit that would make a record larger is refused with a
// [*store.TooLargeError] and changes nothing; nothing is evicted to make room
// for it. Without this bound one oversized session could evict most others
// (a 9 MiB session in a store sized for a thousand 11 KiB ones evicted 793 of
// them).
//
// default: 1 MiB ([DefaultMaxRecordSize])
func WithMaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecordSize = n
		}
	}
}

// WithCleanupInterval sets how often, at most, a sweep removes expired
// records; a call of the store after the interval starts the next one.
// Expired records are invisible at once whatever the interval; it only decides
// how long their memory stays taken.
//
// default: 1 minute ([DefaultCleanupInterval])
func WithCleanupInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.cleanupInterval = d
		}
	}
}

// WithClock makes the store read the time from now instead of the system
// clock, for tests of expiry. now must be safe for concurrent use.
//
// The store judges both expiry and late writes by this clock: a Commit, Touch
// or Move whose context deadline is not after now() is refused (see
// [Store.Commit]). Context deadlines are set by the real clock, so a test
// clock far ahead of it (a fixed date years away, or one advanced by more
// than the deadlines' slack) makes every write under a deadline fail with
// [context.DeadlineExceeded]: start it at time.Now(), or give the writes
// contexts without a deadline.
//
// default: time.Now
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
