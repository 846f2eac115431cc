package hybridstore

import (
	"context"
	"hash/maphash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/tether-go/tether/store"
)

var (
	_ store.Store  = (*Store)(nil)
	_ store.Pinger = (*Store)(nil)
	_ io.Closer    = (*Store)(nil)
)

// mode is how the store keeps its local entries fresh, chosen from the
// remote's capabilities.
type mode uint8

const (
	// modeNotify: the remote broadcasts changes; an entry is served until an
	// event evicts it (or it reaches the maximum age).
	modeNotify mode = iota
	// modeRevalidate: the remote answers versions; a hit is checked against
	// the remote's version (after the local TTL, if one is set).
	modeRevalidate
	// modeTTL: the remote can do neither; an entry is trusted for the local
	// TTL and then loaded again.
	modeTTL
)

func (m mode) String() string {
	switch m {
	case modeNotify:
		return "notify"
	case modeRevalidate:
		return "revalidate"
	}
	return "ttl"
}

// numStripes is how many locks (and in-flight maps, and event counters) the
// store spreads IDs over. More stripes mean fewer writes that must evict
// because an unrelated notification arrived on their stripe meanwhile.
const numStripes = 1024

// Store is a local cache in front of a remote [store.Store]. It is itself a
// store.Store, safe for concurrent use by multiple goroutines. Create it with
// [New]; [Store.Close] stops its background goroutine and does not close the
// remote.
type Store struct {
	remote    store.Store
	notifier  store.Notifier  // nil unless the remote is one
	versioner store.Versioner // nil unless the remote is one
	// mode holds a mode. It changes once at most: from modeNotify to
	// another when the remote's Notify reports store.ErrUnsupported.
	mode atomic.Uint32
	cfg  config

	cache   *otter.Cache[string, *entry]
	seed    maphash.Seed
	stripes [numStripes]stripe

	// usable says whether local entries may be served and filled: in
	// modeNotify, between a Reset and the next Lost; otherwise until Close.
	usable atomic.Bool
	// epoch changes on every Lost, Reset and Close. An entry is served as
	// fresh only if it was filled in the current epoch, and a load fills
	// only if the epoch did not change while it ran: what was read before a
	// gap in the notifications may have missed one.
	epoch  atomic.Uint64
	closed atomic.Bool
	// precision is the unit, in nanoseconds, to which the remote keeps
	// times, as learnt from the records it returned (see precision.go); 0
	// until the first load.
	precision atomic.Int64
	// chains numbers entry lineages (see entry.chain).
	chains atomic.Uint64

	stats counters

	stop      context.CancelFunc
	done      chan struct{} // closed when the notification goroutine returned
	closeOnce sync.Once
}

// stripe serialises, for its IDs, what must not interleave: filling an entry
// from a load, evicting it for an event, applying a write to it.
//
// A stripe's maps are made on first use: a Store has 1024 stripes, and 2048
// empty maps made up front were most of an idle Store's heap, objects the
// collector marked on every cycle of a process that only reads cached
// sessions.
type stripe struct {
	mu      sync.Mutex
	flights map[string]*flight
	// changes counts what happened to the stripe's IDs: notifications
	// received (other than a create's own, see creating), writes through
	// this store, DeleteUser. A create reads it before its remote call and
	// makes a local entry only if it has not moved since: a create has no
	// earlier entry to check its result against. (An update checks the
	// version chain instead.)
	changes uint64
	// creating marks the IDs this store is creating (see Commit): the
	// first notification for such an ID is taken for the create's own.
	creating map[string]*createMark
}

// createMark is a create of an ID in flight through this store.
type createMark struct {
	n      int  // creates of the ID in flight
	echoed bool // a notification for the ID arrived since the first began
}

// entry is a cached record. Entries are immutable: every change replaces the
// entry, so the hit path reads one without a lock, and a hit hands out a
// pointer to the entry's own record (which keeps the entry alive). The record
// is held by value, not as the remote decoded it: one object fewer per cached
// session and 16 bytes less at 100,000 sessions; a full collection of
// 200,000 cached sessions took no measurably shorter for it.
type entry struct {
	rec store.Record
	// confirmed is when the remote last vouched for rec: the start of the
	// load that read it, of the write that produced it, or of the version
	// check that matched it. Ages are counted from here.
	confirmed time.Time
	// epoch is the store's epoch when the entry was filled; 0 marks an entry
	// kept only for degraded mode (never served as fresh).
	epoch uint64
	// chain identifies the entry's lineage: a load or a create starts one,
	// and the entries that writes and absorbed notifications derive from it
	// keep it. A write that counted its echo on a chain knows, after its
	// remote call, whether the entry it finds still carries that count.
	chain uint64
	// echoes counts notifications of this node's own writes that are still
	// to come for the entry; each is absorbed instead of evicting it. Past
	// echoDeadline an entry still waiting for one is not served.
	echoes       int32
	echoDeadline time.Time
	// writing counts this node's updates in flight that counted their echo
	// on the entry. While it is positive the entry is not served (the write
	// may change it any moment) nor replaced by a load.
	writing int32
}

// Estimated Go overhead of an entry (the entry, the record, the cache's
// node), of each value (its two lengths in the record's packed values) and
// of each attribute (its map slot: key and string headers), counted by the
// weigher on top of the bytes themselves.
const (
	entryOverhead = 256
	valueOverhead = 4
	attrOverhead  = 64
)

func weigh(id string, e *entry) uint32 {
	n := uint64(len(id)) + uint64(e.rec.Size()) + entryOverhead +
		valueOverhead*uint64(e.rec.Values.Len()) + attrOverhead*uint64(len(e.rec.Attrs))
	return uint32(min(n, 1<<32-1))
}

// New returns a store that caches remote's records locally. The caller keeps
// ownership of remote: Close does not close it.
//
// How local entries are kept fresh depends on what remote can do (see the
// package documentation): with a [store.Notifier], New starts a goroutine that
// listens to its notifications until Close; with a [store.Versioner], hits are
// revalidated; otherwise entries live for the local TTL.
func New(remote store.Store, opts ...Option) *Store {
	cfg := config{
		maxBytes: DefaultMaxBytes,
		maxAge:   DefaultMaxAge,
		now:      time.Now,
		echoSkip: true,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Store{remote: remote, cfg: cfg, seed: maphash.MakeSeed(), done: make(chan struct{})}
	s.epoch.Store(1)

	s.notifier, _ = remote.(store.Notifier)
	s.versioner, _ = remote.(store.Versioner)
	if s.notifier != nil {
		s.mode.Store(uint32(modeNotify))
	} else {
		s.setPollingMode()
	}

	s.cache = otter.Must(&otter.Options[string, *entry]{
		MaximumWeight: uint64(cfg.maxBytes),
		Weigher:       weigh,
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *entry]) {
			if e.Cause == otter.CauseOverflow {
				s.stats.evictions.Add(1)
			}
		},
	})

	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if s.notifier != nil {
		// Until the first Reset nothing guarantees that a change would be
		// heard of: pass through.
		go s.listen(ctx)
	} else {
		s.usable.Store(true)
		close(s.done)
	}
	return s
}

// Close stops the notification goroutine, if any, and drops every local
// entry. It does not close the remote, which the caller owns. After Close the
// store still works, passing every call through to the remote without
// caching. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		<-s.done
		s.usable.Store(false)
		s.epoch.Add(1)
		s.cache.InvalidateAll()
		s.cache.StopAllGoroutines()
	})
	return nil
}

// Ping implements [store.Pinger] by asking the remote, if it can be asked;
// otherwise it reports only a done context, as a store without Pinger is
// assumed reachable.
func (s *Store) Ping(ctx context.Context) error {
	if p, ok := s.remote.(store.Pinger); ok {
		return p.Ping(ctx)
	}
	return ctx.Err()
}

// Remote returns the store this one caches.
func (s *Store) Remote() store.Store { return s.remote }

// setPollingMode selects how entries are kept fresh without notifications:
// by version checks if the remote answers them, else by the local TTL. It is
// called by New, or by the notification goroutine before it makes the store
// usable, so the TTL it sets is seen by every reader of usable.
func (s *Store) setPollingMode() {
	if s.versioner != nil {
		s.mode.Store(uint32(modeRevalidate))
		return
	}
	if s.cfg.localTTL == 0 {
		s.cfg.localTTL = DefaultLocalTTL
	}
	s.mode.Store(uint32(modeTTL))
}

func (s *Store) modeNow() mode { return mode(s.mode.Load()) }

func (s *Store) stripe(id string) *stripe {
	return &s.stripes[maphash.String(s.seed, id)%numStripes]
}

// fresh reports whether e may be served without asking the remote, at now.
// It does not cover revalidation (see Load).
func (s *Store) fresh(e *entry, now time.Time) bool {
	if e.epoch != s.epoch.Load() || !s.usable.Load() || !e.rec.Live(now) {
		return false
	}
	age := now.Sub(e.confirmed)
	if age >= s.cfg.maxAge || age < 0 {
		return false
	}
	if e.writing > 0 {
		return false // a write through this node is changing it
	}
	if e.echoes > 0 && !now.Before(e.echoDeadline) {
		return false // an echo is overdue: something is off, ask the remote
	}
	if s.modeNow() == modeTTL && age >= s.cfg.localTTL {
		return false
	}
	return true
}

// stale reports whether e may be served in degraded mode, at now.
func (s *Store) stale(e *entry, now time.Time) bool {
	if s.cfg.staleIfError == 0 || !e.rec.Live(now) {
		return false
	}
	age := now.Sub(e.confirmed)
	return age >= 0 && age <= s.cfg.staleIfError
}

// evictLocked drops id's entry and any load of id in flight, so that the load
// does not fill the cache with what it read before the change. The caller
// holds st.mu.
func (s *Store) evictLocked(st *stripe, id string) {
	s.dropFlightLocked(st, id)
	s.cache.Invalidate(id)
}

// evict is evictLocked for a caller that does not hold the lock.
func (s *Store) evict(id string) {
	st := s.stripe(id)
	st.mu.Lock()
	s.evictLocked(st, id)
	st.mu.Unlock()
}
