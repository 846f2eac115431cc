package hybridstore

import "time"

// Defaults of the options.
const (
	// DefaultMaxBytes bounds the local cache: 64 MiB.
	DefaultMaxBytes = 64 << 20

	// DefaultMaxAge is the longest a local entry is served without being
	// loaded again, whatever the remote says: a safety net under the remote's
	// notifications or versions, not the mechanism that keeps entries fresh.
	DefaultMaxAge = time.Minute

	// DefaultLocalTTL is how long a local entry is trusted, without asking
	// the remote, when the remote can neither notify nor answer versions.
	// It is the bound on how stale a read can be on such a remote.
	DefaultLocalTTL = 500 * time.Millisecond

	// echoWait is how long an entry waits for the notification of a write
	// it applied itself before it stops being served (see notify.go). A
	// healthy subscription delivers it in well under a millisecond.
	echoWait = time.Second
)

// Option configures a [Store] in [New]. A non-positive number or duration
// selects the option's default.
type Option func(*config)

type config struct {
	maxBytes     int64
	maxAge       time.Duration
	localTTL     time.Duration // 0: revalidate every hit (Versioner remotes)
	staleIfError time.Duration // 0: off
	now          func() time.Time

	// echoSkip makes a write the node applied itself survive the
	// notification of that write. Off only in tests and benchmarks that
	// measure what it saves.
	echoSkip bool
}

// WithMaxBytes bounds the memory the local entries take, counted as each
// entry's ID and [store.Record.Size] plus an estimate of Go's overhead
// (256 bytes for the entry's structures, 4 per value and 64 per
// attribute). Past it the cache evicts the entries least likely
// to be read again (W-TinyLFU, see the package documentation); a record
// larger than n is not cached at all.
//
// default: 64 MiB ([DefaultMaxBytes])
func WithMaxBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBytes = n
		}
	}
}

// WithMaxAge bounds how long a local entry is served after the remote last
// confirmed it (a load, a write through this store, a matching version), even
// when nothing said it changed. It bounds the damage of a notification that
// never came, for instance from a subscription that died without the remote
// noticing yet.
//
// default: 1 minute ([DefaultMaxAge])
func WithMaxAge(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.maxAge = d
		}
	}
}

// WithLocalTTL trusts a local entry for d after the remote last confirmed it,
// without asking the remote again, when the remote is not a [store.Notifier].
//
// With a remote that is a [store.Versioner] (Memcached), the default is to
// revalidate every hit with one cheap version check, so a write on another
// node is seen at once. WithLocalTTL(d) trades that round trip for
// staleness: for up to d after a confirmation, a hit is served from memory
// and MAY BE STALE — a write, logout or rotation made on another node is not
// seen on this one for up to d. After d the entry is revalidated.
//
// With a remote that can do neither, entries are always trusted for the
// local TTL and then loaded again: reads can be stale for up to d.
//
// With a [store.Notifier] remote the option has no effect: notifications
// keep entries fresh.
//
// default: 0 (revalidate every hit) with a Versioner remote; 500 ms
// ([DefaultLocalTTL]) with a remote that is neither Notifier nor Versioner.
func WithLocalTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.localTTL = d
		}
	}
}

// WithStaleIfError turns on degraded mode: when the remote fails a read (a
// Load or a version check) — with an error, or by not answering before the
// caller's deadline — Load serves the local entry instead, provided the
// remote confirmed it at most d ago and the record has not expired. A read
// the caller cancelled is not served. Each such read counts in
// [Stats].StaleServes.
//
// The data served may be up to d old: writes made on other nodes in that
// time are not seen. That includes logouts: A SESSION LOGGED OUT, REVOKED
// (DeleteUser) OR ROTATED ON ANOTHER NODE IS SERVED AS LOGGED IN ON THIS ONE
// FOR UP TO d while this node cannot reach the remote, because the
// notification that would evict it cannot reach it either. Writes are never
// degraded: a Commit, Touch, Move, Delete or DeleteUser still returns the
// remote's error, so no handler is told "saved" for data that was not.
//
// default: 0 (off): a remote error is returned to the caller.
func WithStaleIfError(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.staleIfError = d
		}
	}
}

// WithClock makes the store read the time from now instead of the system
// clock: for expiry (a local entry is never served at or past its record's
// Expires), ages, TTLs and the stale limit. Tests inject a manual clock;
// give the remote the same one where it takes a clock.
//
// default: time.Now
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
