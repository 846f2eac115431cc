package mysqlstore

import (
	"log/slog"
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options.
const (
	DefaultTable         = "tether_sessions"
	DefaultReapInterval  = 5 * time.Minute
	DefaultReapBatch     = 1000
	DefaultTimeout       = 5 * time.Second
	DefaultMaxRecordSize = store.DefaultMaxRecordSize
)

// Option configures a [Store] in [New] (and the statements [DDL] returns). A
// non-positive number or duration selects the option's default.
type Option func(*config)

type config struct {
	table         string
	createTable   bool
	reapInterval  time.Duration
	reapBatch     int
	timeout       time.Duration
	maxRecordSize int
	now           func() time.Time
	log           *slog.Logger

	// Tests only: onReap, if set, observes the reaper; deadlineShift moves
	// the deadline the statements check earlier, to test that check;
	// afterEnd, if set, runs in DeleteUser's transaction right after the
	// statement that ends the user's sessions, so that a test can commit a
	// concurrent write there.
	onReap        func(reapEvent)
	deadlineShift time.Duration
	afterEnd      func()
}

func defaultConfig() config {
	return config{
		table:         DefaultTable,
		createTable:   true,
		reapInterval:  DefaultReapInterval,
		reapBatch:     DefaultReapBatch,
		timeout:       DefaultTimeout,
		maxRecordSize: DefaultMaxRecordSize,
		now:           time.Now,
		log:           slog.New(slog.DiscardHandler),
	}
}

// WithTable sets the name of the sessions table; the values live in a second
// table named after it with "_values" appended. The name is 1 to 57 ASCII
// letters, digits, '_' or '$' (so that the values table's name fits MySQL's
// 64 characters), and is always quoted with backticks. Anything else is
// refused by [New] and [DDL] with an error: a name is configuration, and one
// that needs quoting tricks is a mistake or an attack. The table lives in
// the connection's current database (the DSN's).
//
// default: "tether_sessions" ([DefaultTable])
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// WithCreateTable says whether [New] creates the tables if they do not exist
// (CREATE TABLE IF NOT EXISTS, serialised between nodes by GET_LOCK). Turn
// it off when migrations are run by other means: [DDL] returns the
// statements to run. Either way New checks that the tables can be read, so
// a missing or misnamed table fails New, not the first request.
//
// default: true
func WithCreateTable(create bool) Option {
	return func(c *config) { c.createTable = create }
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
// statement. Small batches keep each statement's locks and undo log short;
// the reaper runs batches until one comes back short.
//
// default: 1000 ([DefaultReapBatch])
func WithReapBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.reapBatch = n
		}
	}
}

// WithTimeout bounds every call the store makes to MySQL, in addition to the
// caller's context (the earlier deadline wins). It is a safety net for
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
// backend applies. Values are stored as raw bytes (LONGBLOB), so the bytes
// MySQL holds are those bytes plus row overhead. A commit whose result would
// be larger is refused with a [*store.TooLargeError] and changes nothing.
//
// The server's max_allowed_packet must exceed it (with a few KiB to spare):
// a value travels in one packet each way. [New] checks that and refuses to
// start otherwise.
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
// store judges "expired" with the application's clock too, not the database
// server's. The server's clock is used for one thing only: refusing a write
// that reaches it after its caller's deadline. Tests inject a manual clock.
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
// rounds and failures.
//
// default: no logging
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}
