package boltstore

import (
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options.
const (
	DefaultLockTimeout   = time.Second
	DefaultReapInterval  = time.Minute
	DefaultReapBatch     = 1000
	DefaultMaxRecordSize = store.DefaultMaxRecordSize
)

// Option configures a [Store] in [Open]. A non-positive number or duration
// selects the option's default.
type Option func(*config)

type config struct {
	lockTimeout   time.Duration
	reapInterval  time.Duration
	reapBatch     int
	maxRecordSize int
	now           func() time.Time
	// deadlineNow is the clock a write's context deadline is compared with:
	// the process's clock, as the context's is. Tests replace it.
	deadlineNow func() time.Time
	commit      commitMode
}

func defaults() config {
	return config{
		lockTimeout:   DefaultLockTimeout,
		reapInterval:  DefaultReapInterval,
		reapBatch:     DefaultReapBatch,
		maxRecordSize: DefaultMaxRecordSize,
		now:           time.Now,
		deadlineNow:   time.Now,
		commit:        groupCommit,
	}
}

// WithLockTimeout bounds how long [Open] waits for the file's lock, which
// another process (or another Open in this one) holding the file keeps. Past
// it, Open returns an error matching [ErrLocked]: a second replica mounting
// the same volume fails fast and says why instead of hanging.
//
// default: 1 second ([DefaultLockTimeout])
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockTimeout = d
		}
	}
}

// WithReapInterval sets how often the reaper deletes expired records.
// Expired records are invisible at once whatever the interval; it only
// decides how long their pages stay taken before they are reused.
//
// default: 1 minute ([DefaultReapInterval])
func WithReapInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.reapInterval = d
		}
	}
}

// WithReapBatch sets how many expired records the reaper deletes per
// transaction. Each transaction holds the file's single writer lock, so a
// smaller batch delays session writes less; a round runs batches until one
// comes back short.
//
// default: 1000 ([DefaultReapBatch])
func WithReapBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.reapBatch = n
		}
	}
}

// WithMaxRecordSize bounds a record as [store.Record.Size] counts it (keys,
// values, user id, a tombstone's target and sealed token). A commit whose
// result would be larger is refused with a [*store.TooLargeError] and changes
// nothing; a record of exactly n bytes is stored.
//
// default: 1 MiB ([store.DefaultMaxRecordSize])
func WithMaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecordSize = n
		}
	}
}

// WithClock makes the store judge expiry, and the deadlines of writes, by now
// instead of time.Now: the session manager computes expiries with its clock,
// and tests advance a fake one. (A fake clock far from the real one then
// refuses writes whose real-time deadline it has passed, as the memory store
// does.)
//
// default: time.Now
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now, c.deadlineNow = now, now
		}
	}
}
