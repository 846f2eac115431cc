package pgstore

import (
	"log/slog"
	"time"
)

// Defaults of the options.
const (
	DefaultTable          = "tether_sessions"
	DefaultChannel        = "tether_invalidate"
	DefaultReapInterval   = 5 * time.Minute
	DefaultReapBatch      = 1000
	DefaultTimeout        = 5 * time.Second
	DefaultMaxRecordBytes = 1 << 20 // 1 MiB
)

// Option configures a [Store] in [New] (and the statements [DDL] returns). A
// non-positive number or duration selects the option's default.
type Option func(*config)

type config struct {
	schema         string
	table          string
	createTable    bool
	channel        string
	notify         bool
	reapInterval   time.Duration
	reapBatch      int
	timeout        time.Duration
	maxRecordBytes int
	now            func() time.Time
	log            *slog.Logger

	// Tests only: onReap, if set, observes the reaper; listenCheck replaces
	// the listener's liveness check interval.
	onReap      func(reapEvent)
	listenCheck time.Duration
}

func defaultConfig() config {
	return config{
		table:          DefaultTable,
		createTable:    true,
		channel:        DefaultChannel,
		notify:         true,
		reapInterval:   DefaultReapInterval,
		reapBatch:      DefaultReapBatch,
		timeout:        DefaultTimeout,
		maxRecordBytes: DefaultMaxRecordBytes,
		now:            time.Now,
		log:            slog.New(slog.DiscardHandler),
		listenCheck:    listenCheck,
	}
}

// WithTable sets the name of the sessions table. Any name is accepted that
// Postgres accepts as an identifier (valid UTF-8, no NUL, at most 63 bytes):
// it is always quoted, so case, spaces and punctuation are kept as given and
// cannot inject SQL. The indexes are named after the table.
//
// default: "tether_sessions" ([DefaultTable])
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// WithSchema sets the Postgres schema that holds the table. The schema must
// exist; the store does not create schemas.
//
// default: "" — the table name is not qualified, and Postgres resolves it on
// the connection's search_path (usually "public").
func WithSchema(name string) Option {
	return func(c *config) { c.schema = name }
}

// WithCreateTable says whether [New] creates the table and its indexes if
// they do not exist (CREATE ... IF NOT EXISTS, serialised between nodes by
// an advisory lock). Turn it off when migrations are run by other means: [DDL]
// returns the statements to run. Either way New checks that the table can be
// read, so a missing or misnamed table fails New, not the first request.
//
// default: true
func WithCreateTable(create bool) Option {
	return func(c *config) { c.createTable = create }
}

// WithChannel sets the LISTEN/NOTIFY channel that announces changes to
// [Store.Notify]. Every store of one table must use the same channel; stores of
// different tables in one database should use different ones, or caches see
// (harmless) notifications of foreign IDs. At most 63 bytes, valid UTF-8,
// no NUL.
//
// default: "tether_invalidate" ([DefaultChannel])
func WithChannel(name string) Option {
	return func(c *config) { c.channel = name }
}

// WithNotify says whether writes announce themselves with pg_notify, for
// [Store.Notify].
//
// Turn it off when no cache listens (no hybrid tier in front of this store):
// Postgres serialises the commits of all transactions that NOTIFY, cluster
// wide, on one lock held through the commit, which caps the rate of session
// writes at roughly one per commit latency. With it off, Notify returns an
// error matching [store.ErrUnsupported] at once; since it never delivers a
// Reset, a cache that follows the [store.Notifier] contract never trusts
// entries it took from this store. Every store of one table should agree: a
// store without notifications next to a hybrid tier on the same table leaves
// that tier's caches stale.
//
// default: true
func WithNotify(enabled bool) Option {
	return func(c *config) { c.notify = enabled }
}

// WithReapInterval sets how often the reaper deletes expired records. Expired
// records are invisible from the moment they expire; the reaper only reclaims
// their space, so the interval trades database churn against table size.
//
// default: 5 minutes ([DefaultReapInterval])
func WithReapInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.reapInterval = d
		}
	}
}

// WithReapBatch sets how many expired records the reaper deletes per
// statement. Small batches keep each statement's locks and WAL short; the
// reaper runs batches until one comes back short.
//
// default: 1000 ([DefaultReapBatch])
func WithReapBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.reapBatch = n
		}
	}
}

// WithTimeout bounds every call the store makes to Postgres, in addition to
// the caller's context (the earlier deadline wins). It is a safety net for
// callers without a deadline, such as the reaper and background jobs calling
// [Store.DeleteUser]; the session manager sets its own, shorter one.
//
// default: 5 seconds ([DefaultTimeout])
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithMaxRecordBytes bounds a record's values as Postgres holds them: the
// size of the jsonb object before compression, in which each value is base64
// (4/3 of its raw size), each key is as it is, and each entry costs 8 bytes
// more. A commit whose result would be larger is refused with a
// [*store.TooLargeError] and changes nothing. A Create, and an Update whose
// added values alone are too large, are refused before any round trip; other
// Updates are measured by the statement that applies them.
//
// default: 1 MiB ([DefaultMaxRecordBytes]), values of about 768 KiB in all.
// Postgres itself allows far more (1 GB per field), but every Load moves the
// whole record.
func WithMaxRecordBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecordBytes = n
		}
	}
}

// WithClock sets the clock the store compares expiry times with. The session
// manager computes each record's absolute expiry from its own clock, so the
// store judges "expired" with the application's clock too, not the database
// server's: a record is live exactly as long as the manager thinks it is. The
// application nodes' clocks should be synchronised (NTP); skew between them
// shifts expiry by the skew, as it would with any shared store. Tests inject
// a manual clock.
//
// default: time.Now
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets where the store logs what it does in the background: reaper
// rounds and failures, listener reconnections.
//
// default: no logging
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}
