// Package hybridstore is the hybrid tier: a bounded local cache in front of
// any shared [store.Store], so that with sticky routing a session is read
// from memory, and when routing moves (a pod killed, a scale-out) the next
// node finds it in the shared store. Nothing is lost, and nothing stale is
// served.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	hs := hybridstore.New(redisstore.New(rdb), hybridstore.WithMaxBytes(64<<20))
//	defer hs.Close()
//	m, err := session.New(session.WithStore(hs))
//
// A [Store] is itself a store.Store and passes the conformance suite
// (package storetest) over every backend.
//
// # Reads
//
// Load answers from a fresh local entry with no round trip. On a miss it
// loads the record from the remote — once for all concurrent misses of one
// ID — and caches it. A missing record is never cached, so a session created
// on another node is visible at once. A local entry is never served at or
// past its record's Expires (by the store's clock, [WithClock]), nor longer
// than [WithMaxAge] after the remote last confirmed it.
//
// A load that races a change of its ID (a notification, a write through this
// store) never fills the cache with what it read before the change: each load
// in flight is marked stale, under the ID's lock, by every change of the ID,
// and a stale load fills nothing; later misses start a load of their own.
//
// # Writes
//
// Commit, Touch, Move, Delete and DeleteUser are write-through: the remote
// first, then the local entry. A Commit whose result can be made exactly equal
// to the remote's record is applied locally, so a node keeps serving a session
// it writes: the local entry was at the version just below the commit's
// result (the state the commit was applied to), or the commit created the
// record; times are truncated to the remote's precision, which the store
// learns from the records it loads; attributes are the create's, or the
// update's if it sets them, else the entry's. Anything else evicts:
// a failed write (it may or may not have been applied), a Touch or Move
// (their resulting version is the remote's to choose), a Delete, an entry at
// another version than the one the commit applied to (another node wrote in
// between, or nothing was cached). The local entry is never
// ahead of the remote, nor different from it. A write the remote refused
// because it arrived after the caller's deadline (an error matching
// context.DeadlineExceeded, see the store contract) is a failed write like
// any other: it is returned to the caller and never fills the cache. A Move
// resent after a lost reply, which the remote recognises as its own, evicts
// as any successful Move does. DeleteUser evicts every local
// entry of the user, so "log out everywhere" holds on this node the moment it
// returns.
//
// # Keeping entries fresh
//
// How the store learns of writes made by other nodes depends on what the
// remote can do, in this order:
//
//   - A [store.Notifier] (redisstore: pub/sub published by the write's own
//     script; pgstore: NOTIFY in the write's transaction): [New] starts a
//     goroutine that listens until [Store.Close], and every change event
//     evicts its ID. Cross-node reads are as fresh as the notifications,
//     typically under a millisecond. Until the first Reset, and from a Lost
//     to the next Reset, notifications may be missed: the store flushes and
//     passes every read through to the remote (Stats.Bypassing) until the
//     subscription is back. A write applied locally absorbs the notification
//     of that same write instead of being evicted by it, which is safe
//     because backends announce the writes of one record in order, each in
//     the same atomic step as the write; without it, every write would cost
//     the writing node a reload.
//   - A [store.Versioner] (memcachestore, mysqlstore): each hit is revalidated with one
//     version check, and served only if the remote's version is the entry's.
//     A write on another node is seen at once. The check costs a round trip
//     (on Memcached, one that carries the record, but no decoding), so the
//     saving is smaller than with notifications. [WithLocalTTL](d) skips the
//     check for d after each confirmation, and can then serve data up to d
//     stale.
//   - Neither: entries are trusted for the local TTL ([DefaultLocalTTL],
//     500 ms, unless [WithLocalTTL]) and then loaded again, so a write on
//     another node may be missed for that long.
//
// A Notifier whose Notify reports [store.ErrUnsupported] (pgstore with
// notifications turned off) is treated as if it were not one.
//
// The bounds, in short: with notifications, a write on another node is seen
// as soon as its notification arrives (well under a millisecond on a local
// network, 0.2–0.9 ms in this package's tests). If the link to the remote
// stalls or the subscription dies silently, the node serves from its cache
// until the remote's Notify reports Lost, and then passes every read through:
// redisstore reports it at most two heartbeat intervals after the
// subscription stopped hearing writes (2 seconds with its defaults, see
// redisstore.WithHeartbeat; measured 2.02–2.04 s with the link between one
// node and Redis stalled), pgstore likewise within two of its heartbeat
// intervals (2 seconds with its defaults, see pgstore.WithHeartbeat); [WithMaxAge]
// bounds the rest. So a logout, revocation or rotation on node B stops being
// served on node A at most that long after the remote applied it (2 s on
// Redis or Postgres with the defaults) — unless degraded mode is on (see
// below). With
// versions, at once. With neither, the local TTL.
//
// # Degraded mode
//
// With [WithStaleIfError](d), when the remote fails a read (or does not
// answer before the caller's deadline), Load answers from the local entry if
// the remote confirmed it at most d ago and the record has not expired
// (Stats.StaleServes). Entries are then kept through a loss of notifications,
// for this use only, and reads that pass through meanwhile refresh them.
// Writes still return the remote's error: no handler is told "saved" for
// data that was not. A failed Delete, Move or DeleteUser evicts for good,
// since it may have happened: a session logged out through this node is
// never served stale.
//
// Degraded mode weakens revocation across nodes: a session logged out,
// revoked or rotated on another node is served as it was on this node for up
// to d while this node cannot reach the remote (a stalled link, an outage),
// since the notification that would have evicted it cannot arrive either.
// Choose d as the longest time you accept a logged-out session to keep
// working on a node cut off from the store.
// Configure the remote's client to fail fast (go-redis retries a refused
// connection until the deadline unless MaxRetries is -1), or every degraded
// read waits for the caller's deadline first.
//
// # Bounds and the cache library
//
// Entries live in an [otter] v2 cache bounded by bytes ([WithMaxBytes]):
// each entry weighs its ID and [store.Record.Size] plus an estimate of Go's
// overhead. Otter was chosen over ristretto v2 by measurement (a throwaway
// harness kept in testdata/cachecompare, with its own go.mod, on this
// project's 2-core build machine; records of 200 B to 16 KB):
//
//   - Hit path, 10,000 entries, parallel Gets: otter 38 ns/op, ristretto
//     279 ns/op (medians of 5), both 0 allocs/op.
//   - Write path (Set): otter 175 ns/op and 0 allocs, ristretto 497 ns/op
//     and 1 alloc (81 B).
//   - Byte bound, filling to four times the budget: both hold the budget
//     exactly (otter 100.0 %, ristretto 99.9 %).
//   - Hit ratio, 500,000 requests over 100,000 sessions, budgets of 13 and
//     2.6 MB: Zipf 1.01 otter 76.8 / 65.7 % vs ristretto 67.2 / 51.0 %;
//     Zipf 1.2 91.0 / 86.2 % vs 88.3 / 84.4 %; session churn 41.2 / 9.7 % vs
//     37.3 / 8.1 %; Zipf with scans 63.0 / 55.7 % vs 52.5 / 46.6 %.
//     Ristretto drops Sets under contention by design; made synchronous
//     (Wait after each Set) it matches otter (78.0 %, 67.8 %, …) at many
//     times otter's cost per Set.
//
// Correctness decided it as much as speed: a ristretto Set becomes visible
// asynchronously and may be dropped, so an entry just written or evicted
// could not be reasoned about under the per-ID locks this store relies on;
// otter's Set, Invalidate and GetIfPresent are synchronous, and it keys by
// the ID itself rather than by a 64-bit hash of it.
//
// # Costs
//
// Measured against a real Redis on loopback (go test -bench, medians of 5, 2
// cores): a hit takes 84 ns and allocates nothing; a Redis load of the same
// 1 KB session takes 73 µs and 40 allocations. A commit through the hybrid
// store costs the Redis commit plus 7 allocations for the local update. A
// write followed by a read of the same session costs no remote load when the
// store absorbs its own notification, and one (about 30 % more time) when
// every notification evicts.
//
// # Statistics
//
// [Store.Stats] returns counters an operator can scrape: hits, misses,
// remote loads, revalidations, notifications received, flushes, evictions
// for space, remote errors and stale serves, plus the cache's size and
// whether it is being bypassed. A steady Evictions rate means WithMaxBytes is
// too small for the working set; Flushes and Bypassing tell of a flapping
// subscription.
//
// # Lifetime
//
// [New] starts one goroutine when the remote is a Notifier (and otter runs
// maintenance on short-lived goroutines of its own); [Store.Close] stops them
// and drops the cache. Close does not close the remote, which the caller
// created and owns; after Close the store passes every call through to it.
// The remote must not be nil.
//
// [otter]: https://github.com/maypok86/otter
package hybridstore
