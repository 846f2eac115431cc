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
// with the clock) and is physically removed by a sweep, at most once every
// [WithCleanupInterval]. The store's own calls start the sweep, in a
// goroutine of its own, when the interval has passed: the store runs no
// goroutine and keeps no timer between sweeps (a pending timer makes every
// scheduling decision of the Go runtime read the clock, which an HTTP server
// makes several of per request). A store nobody calls keeps its expired
// records' memory until its next call; [Store.Close] waits for a running
// sweep.
//
// # Limits
//
// A record may hold at most [WithMaxRecordSize] bytes (default 1 MiB, the
// limit of every Tether backend), counted as [store.Record.Size] counts them:
// keys, values and user id. A commit that would make a record larger is
// refused with a [*store.TooLargeError] (matching [store.ErrTooLarge]): the
// record keeps what it had, nothing is evicted, and the error reaches the
// caller; nothing is truncated or dropped silently. The check comes before
// the commit's values are copied, so a hostile request far over the limit
// costs no memory.
//
// # Bounds and eviction under memory pressure
//
// The store holds at most [WithMaxEntries] records (tombstones included) and
// about [WithMaxBytes] bytes of keys, values, user ids and record ids. When a
// write takes the store over either bound, it evicts records until the store
// is back under it, in this order:
//
//  1. expired records, whatever they belong to;
//  2. records of anonymous sessions (no user id), closest to expiry first;
//  3. records of sessions with a user, and the tombstones their periodic
//     rotations leave, closest to expiry first, and only for a write of such
//     a record.
//
// So a session with a user outlives every anonymous one, and among sessions of
// one kind the least recently active goes first: a session's expiry is its
// last activity plus the idle timeout (or its absolute deadline, if earlier).
// Each shard keeps its records in two expiry-ordered heaps, so this is exact
// and costs one look at each shard per evicted record. The record being
// written is never evicted by its own write.
//
// Anonymous sessions can be created by anyone, so their creation is bounded
// by what they may displace rather than by a share of the store: an anonymous
// write evicts only anonymous (or expired) records, never a logged-in user's
// session, so a flood of new visitors churns through the anonymous sessions
// and logs no user out. (With 100 logged-in users and 200,000 anonymous
// sessions against room for 100,000, every user stays logged in.) A fixed
// share for anonymous sessions would turn away visitors while the store has
// room and protect users no better. If users' sessions alone fill the store,
// an anonymous write still succeeds and leaves the store over its bounds by
// that record (one per concurrent writer), which the next write evicts first.
//
// The user index lists a session exactly while its record exists: eviction
// removes both in one step, so [Store.UserSessions] and [Store.DeleteUser]
// never miss a live session.
//
// Evicting a live session logs its user out. The defaults are generous so that
// this happens only under memory pressure an operator should see; size the
// bounds for the expected number of sessions.
//
// # Late writes
//
// Commit, Touch and Move compare the context's deadline with the store's
// clock (the system clock, or [WithClock]) under the record's lock: a write
// whose deadline has passed changes nothing and returns an error matching
// [context.DeadlineExceeded]. In memory there is no reply to lose: when this
// store returns an error for a write, the write did not apply, and it cannot
// apply later.
//
// # Example
//
//	s := memstore.New(memstore.WithMaxEntries(100_000))
//	defer s.Close()
//	m, err := session.New(session.WithStore(s))
package memstore
