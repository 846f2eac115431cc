package pgstore

import (
	"log/slog"
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options.
const (
	DefaultTable         = "tether_sessions"
	DefaultChannel       = "tether_invalidate"
	DefaultReapInterval  = 5 * time.Minute
	DefaultReapBatch     = 1000
	DefaultTimeout       = 5 * time.Second
	DefaultHeartbeat     = time.Second
	DefaultMaxRecordSize = store.DefaultMaxRecordSize

	// Deprecated: use DefaultMaxRecordSize.
	DefaultMaxRecordBytes = DefaultMaxRecordSize
)

// Option configures a [Store] in [New] (and the statements [DDL] returns). A
// non-positive number or duration selects the option's default.
type Option func(*config)

type config struct {
	schema        string
	table         string
	createTable   bool
	channel       string
	notify        bool
	reapInterval  time.Duration
	reapBatch     int
	timeout       time.Duration
	heartbeat     time.Duration
	maxRecordSize int
	now           func() time.Time
	log           *slog.Logger

	// Tests only: onReap, if set, observes the reaper; onHeartbeat, the
	// listener hearing a heartbeat back.
	onReap      func(reapEvent)
	onHeartbeat func()
}

func defaultConfig() config {
	return config{
		table:         DefaultTable,
		createTable:   true,
		channel:       DefaultChannel,
		notify:        true,
		reapInterval:  DefaultReapInterval,
		reapBatch:     DefaultReapBatch,
		timeout:       DefaultTimeout,
		heartbeat:     DefaultHeartbeat,
		maxRecordSize: DefaultMaxRecordSize,
		now:           time.Now,
		log:           slog.New(slog.DiscardHandler),
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

// WithMaxRecordSize bounds a record's size as [store.Record.Size] counts it:
// the bytes of its value keys, values and user id, the same limit every
// backend applies, whatever its encoding costs on top (here base64 inside
// jsonb, about 4/3 of the values). A commit whose result would be larger is
// refused with a [*store.TooLargeError] and changes nothing. A Create, and
// an Update whose added values alone are too large, are refused before any
// round trip; other Updates are measured by the statement that applies them.
//
// default: 1 MiB ([DefaultMaxRecordSize], [store.DefaultMaxRecordSize]).
// Postgres itself allows far more (1 GB per field), but every Load moves the
// whole record.
func WithMaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecordSize = n
		}
	}
}

// WithMaxRecordBytes is WithMaxRecordSize under its old name.
//
// Deprecated: use [WithMaxRecordSize]. The limit used to count the values as
// Postgres holds them (base64 inside jsonb, 4/3 of their size); it now counts
// them as every backend does, so the same n admits records about 4/3 larger.
func WithMaxRecordBytes(n int) Option { return WithMaxRecordSize(n) }

// WithHeartbeat sets how often [Store.Notify] checks its subscription end to
// end: it sends a notification to a channel only it listens on, through the
// pool (the way writes notify), and if that heartbeat has not come back on
// the listening connection by the next one, it reports the subscription
// lost (a Lost event) and reconnects. A stalled connection (no FIN, no RST)
// is therefore noticed at most twice the interval after it stalled: the
// longest a hybrid tier in front of this store can miss a revocation made
// on another node before it stops trusting its cache.
//
// A shorter interval notices sooner, but costs a NOTIFY commit per
// interval per listening node, and a database that takes longer than the
// interval to commit one (overload, synchronous replication) makes the
// listener reconnect and the caches flush.
//
// default: 1 second ([DefaultHeartbeat]), so a stall is noticed within 2
// seconds.
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.heartbeat = d
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
