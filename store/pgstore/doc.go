// Package pgstore is a [store.Store] on PostgreSQL, through a
// [github.com/jackc/pgx/v5/pgxpool.Pool] the caller configures.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	st, err := pgstore.New(ctx, pool) // creates table tether_sessions if needed
//	...
//	defer st.Close() // stops the reaper; the pool stays yours
//	m, err := session.New(session.WithStore(st))
//
// Besides [store.Store] it implements [store.Notifier] (LISTEN/NOTIFY, for the
// hybrid tier's cache invalidation), [store.Versioner] and [store.Pinger].
//
// # Table
//
// Sessions live in one table, "tether_sessions" unless [WithTable] (and
// [WithSchema]) say otherwise; names are always quoted, never spliced into SQL
// as given. [New] creates the table and its indexes if they are missing; to
// run migrations yourself, take the statements from [DDL] and pass
// WithCreateTable(false). Each row is one record: the ID (the SHA-256 of the
// token, never the token), the values, the user id, created / last_seen /
// expires, a version, and for a rotation tombstone the new ID and the sealed
// token. See [DDL] for the columns.
//
// # Values
//
// Values are a jsonb object from key to the value's bytes in base64 (values
// are arbitrary bytes, which JSON strings cannot hold). jsonb makes a commit's
// delta one expression — (vals - deleted_keys) || set_values — so a commit
// never reads the record into Go and writes it back.
//
// The alternative measured was two arrays (keys text[], values bytea[]),
// which need no base64 and no JSON: loads of a 10 KB record were about twice
// as fast, but its updates about 1.5x slower, because the delta becomes an
// unnest / filter / array_agg over the whole record; on small records the
// differences were within the noise of the (shared) benchmark machine. jsonb
// won because a write's latency is on the response's critical path while the
// hybrid tier serves most reads from memory, and because the delta stays one
// readable expression.
//
// # Commits
//
// Every write is one statement, and each of them also calls pg_notify, so the
// notification belongs to the write's transaction:
//
//   - Create: INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE the existing row
//     has expired. A live row (a session or a tombstone) is left alone and
//     the commit returns [store.ErrExists]; an expired one is replaced whole.
//   - Update: UPDATE ... SET vals = (vals - $delete) || $set, version =
//     version + $step ... WHERE id = $1 AND the row is live AND not a
//     tombstone. The step is random (internal/versionstep): behind an
//     asynchronous standby a failover loses commits Postgres acknowledged,
//     and the next write must not take a lost write's version for other
//     contents (see store.Result.Prior).
//     Postgres applies it under the row lock, after any concurrent update of
//     the row, so concurrent commits of different keys all survive and the
//     later commit of one key wins.
//     Attributes, kept in their own column, are replaced whole when the
//     change sets them and kept otherwise.
//   - Touch and Move: UPDATEs of the times, and of the tombstone columns on
//     condition of the version (a tombstone has no values, user id or
//     attributes).
//   - DeleteUser: an UPDATE that ends the user's live sessions as a logout
//     does, each left a tombstone that forwards nothing (moved_to its own
//     ID) until it would have expired, so that a request still in flight
//     with its token drops its changes instead of saving them in a new
//     session; and a DELETE of the user's expired rows, both in one
//     statement (data-modifying CTEs).
//
// The rule above (an UPDATE that waited for a row lock applies to the row's
// newest version) is READ COMMITTED's, Postgres's default. Under a database
// or role default of REPEATABLE READ or SERIALIZABLE
// (default_transaction_isolation), such an UPDATE fails with a serialization
// error (SQLSTATE 40001) instead; the store then runs it again, once, in an
// explicit READ COMMITTED transaction (BEGIN, the statement and COMMIT in one
// round trip), where it cannot fail that way. So concurrent commits to one
// session all succeed whatever the default, and the default configuration
// pays nothing for it.
//
// When such a statement changes no row, a second query reads the row to say
// why: [store.ErrNotFound], a [*store.MovedError], [store.ErrConflict] (Move's
// version), [store.ErrTooLarge], or the deadline (below). If the row looks
// writable after all (the write's snapshot predated a concurrent Create of
// the ID), the write is retried, up to three times, then reported as
// ErrConflict.
//
// Every write is safe to run twice. An Update re-applies the same delta, a
// Delete of a missing record succeeds, and a Move that finds a tombstone to
// its own new ID (live, or expired but not yet reaped) returns nil: it is
// the same Move, resent after its reply was lost.
//
// # Late writes
//
// A write that reaches Postgres after its caller's deadline (the context's,
// or [WithTimeout]'s if earlier) does not apply: it changes nothing and
// returns an error matching [context.DeadlineExceeded]. The statement
// compares the deadline with clock_timestamp(), the server's clock when it
// runs, after it holds the row's lock: a write that waited for the lock, or
// sat in a stalled connection, past its deadline is refused there. Without
// this, pgx's giving up (it closes the connection, and sends a cancel
// request that a partition may delay or lose) does not stop the server from
// running the statement once it arrives, seconds later, over a newer write.
//
// What remains: the server's clock against the application's (a server
// clock running δ behind lets writes apply up to δ after the deadline; keep
// clocks synchronised), and a write that passed the check at its deadline
// but whose commit or reply arrived after it (the commit's own duration).
// So a write answered with a deadline error, which the session middleware
// turns into a 503, was not applied, except in that window, and will not be
// applied later.
//
// # Expiry and the clock
//
// The session manager computes each record's absolute expiry with its own
// clock, so the store judges "expired" with the application's clock too
// ([WithClock], default time.Now), passed to each statement: a record is live
// exactly as long as the manager thinks it is. An expired row is invisible at
// once (every query filters on expires), and is physically deleted by the
// reaper.
//
// # Reaper
//
// [New] starts a goroutine that, every [WithReapInterval] (default 5 minutes),
// deletes rows that expired more than a minute ago, in batches of
// [WithReapBatch] (default 1000) until a batch comes back short. Only one
// session at a time deletes, across all nodes: each batch runs in a
// transaction that first takes pg_try_advisory_xact_lock on a key derived
// from the table's OID, and a store that finds the lock taken skips the rest
// of its round. (A transaction-scoped lock cannot be left behind on a pooled
// connection, and works through PgBouncer in transaction mode.)
// [Store.Close] stops the reaper and waits for it. The reaper does not
// notify: a cache must honour a record's Expires anyway.
//
// # Change notifications
//
// [Store.Notify] LISTENs on [WithChannel] (default "tether_invalidate") on a
// connection taken out of the pool, and delivers each write's ID. It signals
// Reset once listening, Lost when the connection fails, reconnects with
// exponential backoff (100 ms to 5 s, jittered) and signals Reset again.
//
// A connection that stalls without failing (no FIN, no RST) is caught by a
// heartbeat: every [WithHeartbeat] interval (default 1 s) the listener sends
// a notification, through the pool, to a channel only it listens on, and a
// heartbeat not heard back by the next one is a lost subscription. So a
// stalled listener is reported Lost at most twice the interval after it
// stalled: 2 seconds by default. That is how long a hybrid tier in front of
// this store can go on trusting its cache, unaware that it misses what other
// nodes change (a logout, DestroyUser), before the Lost event tells it to
// stop; while the subscription works, a change reaches every node as fast
// as NOTIFY delivers it (milliseconds). Each heartbeat is one NOTIFY commit
// per interval per listening node.
//
// Notifications have a price: Postgres serialises the commits of all
// transactions that NOTIFY, across the cluster, on one lock held through the
// commit. Session writes through this store therefore commit one at a time,
// which caps them at about one per commit latency (thousands per second on
// a local disk, fewer with synchronous replication). Without a hybrid tier in
// front of the store nothing listens, and WithNotify(false) removes the cost.
//
// # Size limit
//
// [WithMaxRecordSize] (default 1 MiB, [store.DefaultMaxRecordSize]) bounds a
// record as [store.Record.Size] counts it: its keys, raw values, attributes
// and user id, the same limit as every other backend; a record of exactly the limit is
// stored, a byte more is refused with a [*store.TooLargeError] and changes
// nothing. The base64 that jsonb needs (values take 4/3 of their size in
// the table) is not counted against it. For a Create, and for an Update
// whose added values alone exceed the limit, that happens before any round
// trip; otherwise the UPDATE measures its result in the same statement: a
// cheap upper bound (the jsonb's size) admits most records, and only those
// near the limit have their value lengths added up. The attributes, new or
// kept, count with the size their encoding's header states, read without
// decoding them.
//
// # User ids
//
// A user id is any string. Postgres text holds no NUL and no invalid UTF-8,
// so such a user id (and one that begins with byte 0x01) is stored as 0x01
// followed by its bytes in hex; it is returned as it was given, UserSessions
// and DeleteUser find its sessions, and it is never refused as a store
// failure. A user id longer than [MaxUserIDLen] (1024 bytes), which the user
// index could not hold, is refused with an error matching [store.ErrTooLarge],
// not a store failure.
//
// # Errors
//
// A missing record is (nil, nil) from Load, as the contract says. Every other
// failure — a lost connection, a refused one, a timeout ([WithTimeout],
// default 5 s, on top of the caller's deadline) — is returned wrapped with a
// "pgstore:" prefix, and reaches the middleware's error handler as a 503:
// never as "no session". Once Postgres is back the pool reconnects by itself.
//
// What a 503 means for a write: if the write failed on its deadline, it was
// not applied and will not be (see Late writes, and the window described
// there). If the connection broke after the statement was sent and before
// its reply (Postgres restarted, a network fault), it may have committed,
// as with any database; every write is safe to resend.
//
// # Concurrency and lifetime
//
// A [Store] is safe for concurrent use. It owns one goroutine, the reaper,
// started by New and stopped by Close; Notify runs on its caller's goroutine
// and returns when its context is done or the store is closed.
package pgstore
