package memstore

import "time"

// Defaults of the options.
const (
	DefaultMaxEntries      = 1_000_000
	DefaultMaxBytes        = 256 << 20 // 256 MiB
	DefaultCleanupInterval = time.Minute
)

// Option configures a [Store] in [New]. A non-positive number or duration
// selects the option's default.
type Option func(*config)

type config struct {
	maxEntries      int
	maxBytes        int64
	cleanupInterval time.Duration
	now             func() time.Time
}

// WithMaxEntries bounds the number of records (sessions and tombstones, expired
// ones until the janitor removes them). Past it, the store evicts.
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
// refused with a [*store.TooLargeError]. The Go runtime's own overhead per
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

// WithCleanupInterval sets how often the janitor removes expired records.
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
// default: time.Now
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
