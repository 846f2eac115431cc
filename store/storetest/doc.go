// Package storetest is the conformance suite for [store.Store] backends.
//
// Every backend, ours or a third party's, runs it from its own tests against
// the real thing (a Redis server, a Postgres database): [Run] checks every
// store-side rule of package store's documentation and of its method docs, as
// subtests a reader finds by name.
//
// # Using it
//
// In the backend's package, start or connect to the server, then hand Run a
// function returning a store for one subtest:
//
//	func TestConformance(t *testing.T) {
//		client := startRedis(t) // the backend's own test helper
//		storetest.Run(t, func(t *testing.T) store.Store {
//			return redisstore.New(client)
//		})
//	}
//
// newStore may return a new store per subtest or one shared store; the suite
// uses random IDs and user ids, so subtests never see each other's records.
// The caller owns what newStore returns: register cleanup with t.Cleanup; the
// suite never calls Close.
//
// A store that can read its time from a function should be tested with a
// fake clock, which makes the expiry subtests instant and exact:
//
//	clock := storetest.NewClock(time.Now())
//	storetest.Run(t, func(t *testing.T) store.Store {
//		s := memstore.New(memstore.WithClock(clock.Now))
//		t.Cleanup(func() { s.Close() })
//		return s
//	}, storetest.WithClock(clock.Now, clock.Advance))
//
// # What it allows
//
//   - Times: a stored time may come back up to a millisecond off (backends may
//     keep milliseconds, truncated or rounded), in any location and without
//     its monotonic clock reading. Compare times with Equal, never ==.
//   - Real-time expiry (without [WithClock]): a record may vanish up to 250ms
//     before its expiry (clock skew with a server) and must be gone 1.1s after
//     it (Memcached keeps whole seconds, rounded up). Each expiry subtest then
//     takes one to three seconds; they run in parallel.
//   - Contention: a store whose compare-and-swap loop runs out of retries may
//     return [store.ErrConflict]; the concurrency subtests retry such writes
//     and still require that no write is lost.
//   - Size: a value of [WithMaxValueSize] bytes must round-trip; a value four
//     times larger may be refused, with an error matching [store.ErrTooLarge]
//     and the previous record intact, but never truncated. The per-record
//     limit ([WithMaxRecordSize], default [store.DefaultMaxRecordSize]) is
//     exact: a record of that many bytes by [store.Record.Size] is stored,
//     one byte more is refused with a [*store.TooLargeError] naming the limit.
//   - Late writes: a Commit, Touch or Move whose context deadline has passed
//     by the store's clock must change nothing and return an error matching
//     [context.DeadlineExceeded]. The suite can move only an injected clock
//     past a deadline the real one has not reached, so it checks this under
//     [WithClock] only, and then gives its own calls contexts without a
//     deadline (cancelled after 30 seconds instead). Under WithClock the
//     store must judge deadlines by the injected clock, as it judges expiry.
//   - A done context: every method must return promptly with an error matching
//     the context's error (wrapped or not).
//   - Clock skew between app nodes: with [WithNode], a node whose clock runs
//     5 seconds ahead runs DeleteUser on a session that has 3 seconds left,
//     and must end it, not delete it as expired. Without WithNode (a backend
//     whose nodes all read one clock) that test is skipped.
//   - A login while DeleteUser runs: with [WithDuringDeleteUser], a login of
//     the user commits between the statements that end the user's sessions;
//     it must be ended and counted, or left live and listed, and the count
//     must be the sessions ended that were live. Without it (a backend
//     whose DeleteUser is one atomic step) that test is skipped.
//   - A rotation while UserSessions runs: with [WithDuringUserSessions], a
//     session of the user rotates twice between UserSessions' read of the
//     user's index and its read of the sessions; it must be listed under its
//     newest record. Without it (a backend whose UserSessions reads one
//     snapshot) that test is skipped.
//   - Optional capabilities ([store.Versioner], [store.Notifier],
//     [store.Pinger]) are tested when the store implements them and skipped
//     otherwise.
//
// # What it adds to the contract
//
// Where package store leaves a detail open the suite pins it, so that caches
// and the session manager can rely on it on every backend:
//
//   - Move is a write: the tombstone's version is higher than the record's.
//   - Create after Delete, or over an expired record, starts at version 1 with
//     nothing of the old record (values, user index) showing through.
//   - A user id of "" names no user: UserSessions("") and DeleteUser("") never
//     reach sessions that have no user (they may return an error instead).
//   - DeleteUser leaves each session it ends as a tombstone that forwards
//     nothing, as a logout does, until the session would have expired.
//   - A Notifier announces Create, Update, Touch, Move, Delete and DeleteUser
//     under the record's ID.
package storetest
