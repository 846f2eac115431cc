package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// DefaultMaxValueSize is the value size the suite expects a backend to store
// unless told otherwise with [WithMaxValueSize].
const DefaultMaxValueSize = 256 << 10

// Option configures [Run].
type Option func(*config)

type config struct {
	now          func() time.Time
	advance      func(time.Duration)
	maxValueSize int
	maxRecord    int
	skip         map[string]bool
	node         func(t *testing.T, s store.Store, now func() time.Time) store.Store
	during       func(t *testing.T, s store.Store, now func() time.Time, during func()) store.Store
	duringList   func(t *testing.T, s store.Store, during func()) store.Store
}

// WithClock tells the suite that the store under test reads the time from now
// (as memstore.WithClock arranges), and that advance moves that time forward.
// The suite then tests expiry by advancing the clock instead of waiting, and
// runs its subtests one at a time, since they share the clock. Both functions
// must be safe for concurrent use; [Clock] provides them.
//
// Without WithClock the suite uses the system clock, runs its subtests in
// parallel, and waits for real expiries of about a second (at most about 3
// seconds per subtest).
func WithClock(now func() time.Time, advance func(time.Duration)) Option {
	return func(c *config) { c.now, c.advance = now, advance }
}

// WithNode gives the suite another node of the backend: node returns a store
// on the same data as s (the same table, collection or prefix) whose clock
// is now. The suite then checks what a node whose clock runs a few seconds
// ahead of the others does (Users/DeleteUserOnAFastClock); without
// WithNode it skips that test. Backends whose every node reads one clock
// (a single process, the server's) need not give it.
func WithNode(node func(t *testing.T, s store.Store, now func() time.Time) store.Store) Option {
	return func(c *config) { c.node = node }
}

// WithDuringDeleteUser lets the suite write while DeleteUser runs: node
// returns a store on the same data as s, with the clock now, whose
// DeleteUser calls during between the statements that end the user's
// sessions (a backend whose DeleteUser is one atomic step has no such
// moment, and need not give it). The suite then checks that a login that
// commits there is either ended and counted, or left live and listed
// (Users/DeleteUserCountsALoginDuringIt).
func WithDuringDeleteUser(node func(t *testing.T, s store.Store, now func() time.Time, during func()) store.Store) Option {
	return func(c *config) { c.during = node }
}

// WithDuringUserSessions lets the suite write while UserSessions runs: node
// returns a store on the same data as s whose UserSessions calls during
// after it read the user's index and before it reads the sessions the index
// names (a backend whose UserSessions reads one snapshot, one SQL statement
// or one read transaction, has no such moment, and need not give it). The
// suite then checks that a session that rotates there, its new record
// created after the index was read and its old one moved before it was
// read, is listed under its new record (Users/UserSessionsDuringRotation):
// "log out everywhere" stops at the first empty listing.
func WithDuringUserSessions(node func(t *testing.T, s store.Store, during func()) store.Store) Option {
	return func(c *config) { c.duringList = node }
}

// WithMaxValueSize sets the largest single value, in bytes, the backend is
// expected to store. The suite checks that a value of n bytes round-trips,
// and that a value of 4n bytes is either stored intact or refused with an
// error matching [store.ErrTooLarge], leaving the previous record as it was.
// n must leave room for a few small keys under [WithMaxRecordSize]. A
// non-positive n selects the default.
//
// default: 256 KiB ([DefaultMaxValueSize])
func WithMaxValueSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxValueSize = n
		}
	}
}

// WithMaxRecordSize tells the suite the store's per-record limit: the largest
// [store.Record.Size] (keys, values and user id) it accepts. The suite checks
// that a record of exactly n bytes is stored intact, whatever the sizes of
// its values (many small ones and one taking most of n, so an encoding that
// counts against the limit, such as base64, fails), and that a commit making
// a record of n+1 bytes is refused with a [*store.TooLargeError] whose Limit
// is n, changing nothing. A non-positive n selects the default.
//
// default: 1 MiB ([store.DefaultMaxRecordSize])
func WithMaxRecordSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRecord = n
		}
	}
}

// WithSkip skips the named subtests: a group ("Move") or one subtest
// ("Move/TombstoneExpires"), as they appear under Run's test. Use it only for
// what the backend documents it cannot do; a skipped subtest says so in the
// test log.
func WithSkip(names ...string) Option {
	return func(c *config) {
		for _, n := range names {
			c.skip[n] = true
		}
	}
}

// A test is one subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, e *env)
}

// groups lists the suite's subtests, by group.
var groups = []struct {
	name  string
	tests []test
}{
	{"CRUD", crudTests},
	{"Commit", commitTests},
	{"Expiry", expiryTests},
	{"Move", moveTests},
	{"Users", userTests},
	{"Attrs", attrTests},
	{"Concurrency", concurrencyTests},
	{"Hostile", hostileTests},
	{"Context", contextTests},
	{"Capabilities", capabilityTests},
	{"Base", baseTests},
}

// Run runs the conformance suite as subtests of t.
//
// newStore returns the store for one subtest; it is called once per subtest,
// with that subtest's t, and may return the same store every time (backed by
// one shared server): the suite uses random IDs and user ids, so subtests do
// not collide. The caller owns the stores: it registers their cleanup (with
// t.Cleanup) and the suite never calls Close.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts ...Option) {
	t.Helper()
	cfg := config{maxValueSize: DefaultMaxValueSize, maxRecord: store.DefaultMaxRecordSize, skip: map[string]bool{}}
	for _, o := range opts {
		o(&cfg)
	}
	if (cfg.now == nil) != (cfg.advance == nil) {
		t.Fatal("storetest.WithClock: now and advance must both be set")
	}
	// LargeValue stores the largest value with a few small keys beside it.
	if cfg.maxValueSize+64 > cfg.maxRecord {
		t.Fatalf("storetest: WithMaxValueSize(%d) does not fit in a record under WithMaxRecordSize(%d)", cfg.maxValueSize, cfg.maxRecord)
	}
	e := &env{cfg: cfg, newStore: newStore}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			if cfg.skip[g.name] {
				t.Skipf("skipped by storetest.WithSkip(%q)", g.name)
			}
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					if name := g.name + "/" + tc.name; cfg.skip[name] {
						t.Skipf("skipped by storetest.WithSkip(%q)", name)
					}
					if !e.fake() {
						t.Parallel()
					}
					tc.fn(t, e)
				})
			}
		})
	}
}

// env is what every subtest shares: the configuration and the store factory.
type env struct {
	cfg      config
	newStore func(t *testing.T) store.Store
}

func (e *env) store(t *testing.T) store.Store {
	t.Helper()
	s := e.newStore(t)
	if s == nil {
		t.Fatal("newStore returned nil")
	}
	return s
}

// fake reports whether the store reads an injected clock.
func (e *env) fake() bool { return e.cfg.now != nil }

func (e *env) now() time.Time {
	if e.fake() {
		return e.cfg.now()
	}
	return time.Now()
}

// hangLimit is how long the suite waits for one call before it gives up on
// the store.
const hangLimit = 30 * time.Second

// ctx returns a context for one subtest: a store that hangs fails the
// subtest instead of the whole run.
//
// With an injected clock the context has no deadline, only a real-time
// watchdog that cancels it: the store judges late writes by its own clock,
// which the suite moves ahead of the real one, so any deadline would pass
// there.
func (e *env) ctx(t *testing.T) context.Context {
	if !e.fake() {
		ctx, cancel := context.WithTimeout(t.Context(), hangLimit)
		t.Cleanup(cancel)
		return ctx
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	watchdog := time.AfterFunc(hangLimit, func() {
		cancel(fmt.Errorf("storetest: the store did not answer within %v", hangLimit))
	})
	t.Cleanup(func() {
		watchdog.Stop()
		cancel(nil)
	})
	return ctx
}

// newID returns a random ID of the shape the session manager uses: 64
// lowercase hex digits.
func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newUser returns a random user id.
func newUser() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "user-" + hex.EncodeToString(b)
}

// vals builds a value map from key, value pairs.
func vals(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// change returns a change of the given mode, with the times of a request
// made now and an expiry an hour away. The times have sub-second parts
// whatever the clock reads, so that a store keeping whole seconds fails.
func (e *env) change(mode store.Mode) store.Change {
	now := e.now()
	return store.Change{
		Mode:     mode,
		Created:  now.Add(-345678912 * time.Nanosecond),
		LastSeen: now.Add(-234567891 * time.Nanosecond),
		Expires:  now.Add(time.Hour + 456789123*time.Nanosecond),
	}
}

// create creates a record under id with the given user and values, expiring
// in an hour, and returns it as loaded.
func (e *env) create(t *testing.T, s store.Store, id, user string, values map[string][]byte) *store.Record {
	t.Helper()
	c := e.change(store.Create)
	c.UserID, c.SetUserID, c.Set = user, true, values
	res := commit(t, s, id, c)
	if res.Version != 1 {
		t.Errorf("Create returned version %d, want 1", res.Version)
	}
	return mustLoad(t, s, id)
}

// update commits an update setting the given values.
func (e *env) update(t *testing.T, s store.Store, id string, values map[string][]byte) store.Result {
	t.Helper()
	c := e.change(store.Update)
	c.Set = values
	return commit(t, s, id, c)
}

func commit(t *testing.T, s store.Store, id string, c store.Change) store.Result {
	t.Helper()
	res, err := s.Commit(t.Context(), id, c)
	if err != nil {
		t.Fatalf("Commit(%s): %v", c.Mode, err)
	}
	return res
}

// load loads id, failing the test on error.
func load(t *testing.T, s store.Store, id string) *store.Record {
	t.Helper()
	rec, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rec
}

func mustLoad(t *testing.T, s store.Store, id string) *store.Record {
	t.Helper()
	rec := load(t, s, id)
	if rec == nil {
		t.Fatalf("Load(%.8s…) = nil, want a record", id)
	}
	return rec
}

func wantMissing(t *testing.T, s store.Store, id, why string) {
	t.Helper()
	if rec := load(t, s, id); rec != nil {
		t.Errorf("%s: Load returned a record (version %d, %d values, moved %v), want nil", why, rec.Version, rec.Values.Len(), rec.Moved != nil)
	}
}
