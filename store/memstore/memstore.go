package memstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-go/tether/internal/chore"
	"github.com/tether-go/tether/store"
)

// ErrClosed is returned by every method of a [Store] after [Store.Close].
var ErrClosed = errors.New("memstore: store closed")

// errLate refuses a write whose caller's deadline has passed by the store's
// clock: the caller has given up on it (and answered its client with an
// error), so applying it now could overwrite a newer write.
var errLate = fmt.Errorf("memstore: write arrived after its deadline: %w", context.DeadlineExceeded)

var (
	_ store.Store     = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
	_ store.Pinger    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

const numShards = 64

// Store is an in-memory [store.Store]. It is safe for concurrent use. Create
// it with [New] and stop it with [Store.Close].
type Store struct {
	cfg    config
	seed   maphash.Seed
	shards [numShards]shard
	users  userIndex

	entries atomic.Int64 // records held, live or expired
	bytes   atomic.Int64 // sum of entry sizes
	closed  atomic.Bool

	// afterScan, if set (by tests), runs in eviction between the scan of
	// the shards and the removal, where a concurrent write may come.
	afterScan func()

	// afterIDs, if set (by tests), runs in UserSessions between the read
	// of the user's index and of the records, where a rotation may come.
	afterIDs func()

	// betweenDeletes, if set (by tests), runs in DeleteUser between its
	// deletion shard by shard and its deletion under every shard's lock.
	betweenDeletes func()

	closeOnce sync.Once
	sweeper   *chore.Chore // the sweep of expired records
}

// shard holds a share of the records, in two expiry heaps: one for records
// of anonymous sessions, one for records of sessions with a user (and their
// tombstones), so that eviction takes anonymous records first.
type shard struct {
	mu    sync.RWMutex
	m     map[string]*entry
	heaps [2]expiryHeap // [anonymous], [user]
}

// heap returns the heap of the entries of the given class.
func (sh *shard) heap(user bool) *expiryHeap {
	if user {
		return &sh.heaps[1]
	}
	return &sh.heaps[0]
}

// entry holds a stored record. The record is never modified once stored: a
// write replaces the entry's record with a new one, under the shard's lock.
//
// Every stored session has one, so its layout counts (issue 20): 48 bytes,
// a Go size class, where a time.Time and an int index took it to 80.
type entry struct {
	id   string
	rec  *store.Record
	size int64 // len(id) + rec.Size()
	// expires is rec.Expires (see expiryKey), kept here so that the heaps
	// and eviction compare expiries without a pointer chase per entry.
	expires int64
	index   int32 // in its class's heap
	// user: the record belongs to a session with a user, or is the
	// tombstone of one (a periodic rotation's forward, which a logged-in
	// user's in-flight requests still need).
	user bool
}

// expiryKey is an expiry in Unix microseconds, rounded up, for an entry's
// copy; the present is compared in Unix microseconds rounded down
// (time.Time.UnixMicro). So the sweep and eviction never take a record
// for expired before [store.Record.Live] does, and at most a microsecond
// after; microseconds reach ±290,000 years, past any clock a test injects.
func expiryKey(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// New returns an empty store. It starts no goroutine: the store's own calls
// start the sweep of expired records (see the package documentation).
// Options with non-positive values select their defaults.
func New(opts ...Option) *Store {
	cfg := config{
		maxEntries:      DefaultMaxEntries,
		maxBytes:        DefaultMaxBytes,
		maxRecordSize:   DefaultMaxRecordSize,
		cleanupInterval: DefaultCleanupInterval,
		now:             time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Store{cfg: cfg, seed: maphash.MakeSeed()}
	s.sweeper = chore.New(cfg.cleanupInterval, cfg.now().Add(cfg.cleanupInterval), s.sweep)
	for i := range s.shards {
		s.shards[i].m = make(map[string]*entry)
	}
	s.users.reset()
	return s
}

// Close waits for a running sweep and drops every record. Every later call of another
// method returns [ErrClosed]. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.sweeper.Close()
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.m = make(map[string]*entry)
			sh.heaps = [2]expiryHeap{}
			sh.mu.Unlock()
		}
		s.users.mu.Lock()
		s.users.reset()
		s.users.mu.Unlock()
		s.entries.Store(0)
		s.bytes.Store(0)
	})
	return nil
}

// Len returns the number of records held, tombstones and expired records no
// sweep has removed yet included.
func (s *Store) Len() int { return int(s.entries.Load()) }

// Ping reports ErrClosed after Close, and nil before.
func (s *Store) Ping(ctx context.Context) error { return s.check(ctx) }

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// now reads the store's clock for a call, and starts the sweep of expired
// records if it is due: the calls that read the clock anyway are what keeps
// the sweep going, so that no ticker runs while nobody calls.
func (s *Store) now() time.Time {
	now := s.cfg.now()
	s.sweeper.Poke(now)
	return now
}

func (s *Store) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%numShards]
}

// live returns the record under id if it is there and not expired. The caller
// holds sh.mu.
func (s *Store) live(sh *shard, id string, now time.Time) (*entry, *store.Record) {
	e := sh.m[id]
	if e == nil {
		return nil, nil
	}
	if !e.rec.Live(now) {
		return e, nil
	}
	return e, e.rec
}

// Load implements [store.Store].
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	sh, now := s.shard(id), s.now()
	sh.mu.RLock()
	_, rec := s.live(sh, id, now)
	sh.mu.RUnlock()
	return rec, nil
}

// Version implements [store.Versioner].
func (s *Store) Version(ctx context.Context, id string) (uint64, error) {
	rec, err := s.Load(ctx, id)
	if rec == nil || err != nil {
		return 0, err
	}
	return rec.Version, nil
}
