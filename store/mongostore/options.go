package mongostore

import (
	"log/slog"
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options.
const (
	DefaultReapInterval  = 5 * time.Minute
	DefaultTimeout       = 5 * time.Second
	DefaultMaxRecordSize = store.DefaultMaxRecordSize
)

// MaxRecordSizeLimit is the largest per-record limit [WithMaxRecordSize]
// accepts. A record's document holds each key twice (escaped, in the values
// and the sizes sub-documents) plus per-field overhead, and must stay under
// BSON's 16 MiB document cap for every record the limit admits, including
// one made of many tiny values.
//
// The worst case is a record of many keys of three bytes that escaping
// turns into nine, with empty values: about 11.7 bytes of document per byte
// of record, so 1.25 MiB of record is at most about 15.4 MB of document
// (TestWorstRecordFitsBSON builds it).
const MaxRecordSizeLimit = 1<<20 + 256<<10

// Option configures a [Store] in [New]. A non-positive number or duration
// selects the option's default.
type Option func(*config)

type config struct {
	reapInterval  time.Duration
	timeout       time.Duration
	maxRecordSize int
	now           func() time.Time
	log           *slog.Logger

	// inPlaceMax bounds the estimated size of an Update's in-place
	// command (see inPlaceCost); a larger change replaces the document.
	inPlaceMax int

	// Tests only: noTTLIndex skips the TTL index, as a server that refuses
	// it does; betweenEnds, if set, runs in DeleteUser between its two
	// updateManys, so that a test can commit a concurrent write there.
	noTTLIndex  bool
	betweenEnds func()
}

func defaultConfig() config {
	return config{
		reapInterval:  DefaultReapInterval,
		timeout:       DefaultTimeout,
		maxRecordSize: DefaultMaxRecordSize,
		now:           time.Now,
		inPlaceMax:    defaultInPlaceMax,
		log:           slog.New(slog.DiscardHandler),
	}
}

// WithReapInterval sets how often the reaper deletes expired records, when
// the server refused the TTL index (see [Store.TTLIndex]); with the index,
// the server's TTL monitor deletes them and there is no reaper. Expired
// records are invisible from the moment they expire either way: deletion
// only reclaims their space.
//
// default: 5 minutes ([DefaultReapInterval])
func WithReapInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.reapInterval = d
		}
	}
}

// WithTimeout bounds every call the store makes to the server, in addition
// to the caller's context (the earlier deadline wins). It is a safety net
// for callers without a deadline, such as the reaper and background jobs
// calling [Store.DeleteUser]; the session manager sets its own, shorter one.
//
// default: 5 seconds ([DefaultTimeout])
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithMaxRecordSize bounds a record's size as [store.Record.Size] counts it:
// the bytes of its value keys, values, attributes and user id, the same
// limit every backend applies. A commit whose result would be larger is
// refused with a [*store.TooLargeError] and changes nothing. At most
// [MaxRecordSizeLimit]: [New] refuses more.
//
// default: 1 MiB ([DefaultMaxRecordSize], [store.DefaultMaxRecordSize])
func WithMaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecordSize = n
		}
	}
}

// WithClock sets the clock the store compares expiry times with. The session
// manager computes each record's absolute expiry from its own clock, so the
// store judges "expired" with the application's clock too, not the
// server's. Tests inject a manual clock.
//
// default: time.Now
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets where the store logs what it does in the background and
// at setup: a refused TTL index, reaper rounds and failures.
//
// default: no logging
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}
