// Package memstore is an in-process [store.Store]: the session manager's
// default, and the right choice for a single replica or for tests.
//
// Records live in the process's memory, so they die with it: behind several
// replicas, use a shared backend (or sticky routing and accept the loss).
//
// # Concurrency
//
// A [Store] is safe for concurrent use. Records are spread over shards, each
// with its own lock; a commit applies its change under the shard's lock, so
// concurrent commits to one session never lose each other's keys. Records are
// immutable snapshots: a commit builds a new record, so a record returned by
// Load never changes afterwards, and Load hands it out without copying.
//
// # Expiry
//
// An expired record is invisible at once (every method compares its expiry
// with the clock) and is physically removed by a janitor goroutine that
// [New] starts and [Store.Close] stops, every [WithCleanupInterval].
//
// # Bounds and eviction
//
// The store holds at most [WithMaxEntries] records (tombstones included) and
// about [WithMaxBytes] bytes of keys, values, user ids and record ids. A record
// that alone exceeds the byte bound is refused with a [*store.TooLargeError].
// When a write takes the store over either bound, the store evicts the records
// closest to expiry, expired ones first, until it is back under it; each shard
// keeps its records in expiry order, so this is exact and cheap. Since a
// session's expiry is its last activity plus the idle timeout (or its absolute
// deadline, if earlier), this evicts the least recently active sessions first.
// The record being written is never evicted by its own write.
//
// Evicting a live session logs its user out. The defaults are generous so that
// this happens only under memory pressure an operator should see; size the
// bounds for the expected number of sessions.
//
// # Example
//
//	s := memstore.New(memstore.WithMaxEntries(100_000))
//	defer s.Close()
//	m, err := session.New(session.WithStore(s))
package memstore
