package redisstore

import (
	"log/slog"
	"time"

	"github.com/tether-go/tether/store"
)

// Defaults of the options. Each option's documentation repeats its default.
const (
	DefaultPrefix        = "tether:"
	DefaultMaxRecordSize = store.DefaultMaxRecordSize // 1 MiB, as every backend's
	DefaultHeartbeat     = time.Second
)

// Option configures a [Store] in [New].
type Option func(*config)

type config struct {
	prefix        string
	channel       string // "" until New: derived from the prefix
	publish       string // the channel writes publish on, "" for none
	publishArg    any    // publish as a script argument, boxed once
	timeout       time.Duration
	maxRecordSize int
	logger        *slog.Logger
	policyCheck   bool
	policyRecheck time.Duration
	notify        bool
	heartbeat     time.Duration

	beforeUnindex func(id string) // a test's hook, see export_test.go
	// beforeFastRetry is a test's hook, see export_test.go.
	beforeFastRetry func(id string)
	// versionStep, if set, replaces versionStep: a test's, so that two
	// stores' versions compare (see export_test.go).
	versionStep   func() uint64
	afterIndex    func(id string) // a test's hook, see export_test.go
	noFastCommit  bool            // a test's switch: ignore Change.Base (see fastcommit.go)
	fastCommitMax int             // the largest record the fast path writes (see fastcommit.go)
	afterEntries  func()          // a test's hook, see export_test.go
	now           func() time.Time
}

// WithPrefix sets the string every key of the store begins with, so that
// several applications (or stores) can share one Redis. An empty prefix
// selects the default.
//
// The store keeps a session under prefix+"s:"+id and a user index under
// prefix+"u:"+userID. Every command touches one key, so the prefix needs no
// Cluster hash tag; a prefix with one ("{sessions}:") puts every key of the
// store in one hash slot, on one node.
//
// default: "tether:" ([DefaultPrefix])
func WithPrefix(p string) Option {
	return func(c *config) {
		if p != "" {
			c.prefix = p
		}
	}
}

// WithChannel sets the pub/sub channel the store publishes changed session IDs
// on, and that [Store.Notify] subscribes to. Stores that share a channel see
// each other's notifications, so give stores with different prefixes
// different channels (the default does). An empty name selects the default.
//
// default: the prefix followed by "invalidate" ("tether:invalidate")
func WithChannel(name string) Option {
	return func(c *config) {
		if name != "" {
			c.channel = name
		}
	}
}

// WithNotify says whether writes publish the changed session's ID on the
// channel, for [Store.Notify] and the hybrid tier in front of this store.
//
// A publication costs little on one server, but a Cluster forwards every
// publication to every node over its bus, so turn it off when no cache
// listens. With it off, Notify returns an error matching
// [store.ErrUnsupported] at once. Every store of one prefix should agree: a
// store that does not publish next to a hybrid tier on the same keys leaves
// that tier's caches stale.
//
// default: true
func WithNotify(enabled bool) Option {
	return func(c *config) { c.notify = enabled }
}

// WithTimeout bounds every call of the store, on top of the deadline of the
// caller's context. The session manager already bounds every store call
// (session.WithStoreTimeout), so most applications need no timeout here. A
// non-positive d adds no bound.
//
// Deadlines reach the network only if the client was built with
// ContextTimeoutEnabled: true; otherwise go-redis waits for its own
// ReadTimeout and WriteTimeout (see [New]).
//
// default: 0 (the caller's deadline only)
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		c.timeout = max(d, 0)
	}
}

// WithMaxRecordSize bounds a session record: the bytes of its value keys,
// values and user id, as [store.Record.Size] counts them. A commit that would
// take a record past it fails with a [*store.TooLargeError] and changes
// nothing. A change that alone exceeds the bound is refused before any network
// call. Redis itself accepts values up to 512 MB, but a session is read on
// every request that uses it: a megabyte is already a slow session. A
// non-positive n selects the default.
//
// default: 1 MiB ([DefaultMaxRecordSize])
func WithMaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecordSize = n
		}
	}
}

// WithLogger sets where the store reports what it cannot return to a caller:
// a maxmemory-policy that lets Redis evict sessions, a client that ignores
// context deadlines. A nil logger selects the default.
//
// default: [slog.Default] at the time New is called
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithPolicyCheck turns the check of Redis' maxmemory and maxmemory-policy on
// or off. When on, [New] starts a goroutine that runs CONFIG GET maxmemory*
// (on every master of a Cluster) at once, and the first write or Ping after
// each [DefaultPolicyRecheck] runs it again before it goes on (one round trip
// more for that call), until [Store.Close]. A server with a memory limit and a policy that may
// evict a user index, or users' sessions before anonymous ones (allkeys-*,
// volatile-lru, volatile-ttl, volatile-random), makes Commit, Touch, Move and
// Ping fail with a [*PolicyError] until a later check finds it safe;
// volatile-lfu is logged as a warning (sessions may be evicted, an index
// never, and a commit that gives a session a user raises its access
// frequency so that anonymous sessions go first); noeviction, or no memory
// limit, is safe. Writes are not held up while the first check runs. Servers that
// refuse CONFIG (most managed services) are not checked, and not refused.
// Turn the check off only for a server whose policy you know.
//
// default: on
func WithPolicyCheck(on bool) Option {
	return func(c *config) { c.policyCheck = on }
}

// WithHeartbeat sets the heartbeat interval of [Store.Notify]: how often a
// subscription publishes a heartbeat to itself, and how long it waits to hear
// it back before it reports Lost. So a subscription that stops hearing the
// store's writes (a stalled link, a dead connection the kernel has not
// noticed) is reported Lost at most twice d after it stopped, and a hybrid
// tier in front of the store stops serving its cache then. Each heartbeat is
// one PUBLISH (which a Cluster forwards to every node); a heartbeat later
// than d on a healthy but slow link costs a needless flush of the caches. A
// non-positive d selects the default.
//
// default: 1 second ([DefaultHeartbeat])
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.heartbeat = d
		}
	}
}
