// Package mysqlstore is a [store.Store] on MySQL 8 or MariaDB 10.11+, through
// database/sql and github.com/go-sql-driver/mysql. It lives in a module of its
// own, so that users of the other backends never download a MySQL driver.
//
// # Setup
//
// The caller opens and configures the *sql.DB (pool size, timeouts, TLS) and
// passes it to [New]; the store never closes it. The DSN must name the
// database that holds the tables. No DSN option is required: times are
// stored as integers, so parseTime and loc do not matter, and both the
// binary protocol (the default) and interpolateParams=true work.
//
//	db, err := sql.Open("mysql", "app:secret@tcp(db:3306)/app")
//	if err != nil {
//		return err
//	}
//	s, err := mysqlstore.New(ctx, db, mysqlstore.WithTable("sessions"))
//	if err != nil {
//		return err // unreachable database, *PacketTooSmallError, …
//	}
//	defer s.Close()
//
// # Schema
//
// Two InnoDB tables: one row per record (ID, user id, times, version,
// tombstone), and one row per value (ID, key, raw bytes), whose foreign key
// deletes a record's values with it. [DDL] returns the statements; [New]
// runs them unless WithCreateTable(false), under GET_LOCK so that nodes that
// start together create them one at a time, and checks the columns and the
// server's max_allowed_packet either way. The table name is restricted to
// ASCII letters, digits, '_' and '$' and always quoted ([WithTable]).
//
// A row per value rather than one JSON object per session was chosen by
// measurement and by what each can guarantee. On this project's 2-core test
// machine (MariaDB 10.11, loopback), an Update setting one value takes
// about 0.55 ms as a transaction of row statements (six round trips), and
// 0.15 ms as one UPDATE with JSON_MERGE_PATCH; a Create takes 0.7 ms; a
// Load (0.17-0.24 ms) and a Touch (0.16 ms) are one statement either way. The JSON statement cannot enforce the size
// limit as [store.Record.Size] counts it without each value's length, which
// takes JSON paths built from the keys, whose escaping MySQL and MariaDB
// treat differently (and hostile keys are the contract's to accept), and it
// must base64 the values (JSON strings hold no arbitrary bytes). Rows keep
// keys and values as raw bytes, compare keys exactly, measure the size with
// SUM(LENGTH()), and behave the same on both servers. Touch, the write that
// keeps idle sessions alive and the most frequent, is one statement in both.
//
// # Writes and isolation
//
// Load, Version, Touch and Delete are one statement each. Commit, Move and
// DeleteUser are one short transaction at READ COMMITTED, pinned per
// transaction whatever the server's default (InnoDB's is REPEATABLE READ,
// under which concurrent Creates deadlock on gap locks): the transaction
// first locks the record's row (SELECT ... FOR UPDATE), so every write of a
// record is serialised, then applies only the keys the change names (Clear,
// then Delete, then Set), writes the row with the next version, and ends
// with one statement that measures the record and reads the server's clock.
// Concurrent commits of different keys of one session all survive. A
// transaction that InnoDB chose as a deadlock victim changed nothing and is
// run again, at most three times, then reported as [store.ErrConflict].
//
// Create replaces an expired record (or tombstone) entirely and never a live
// one; Update never brings an expired or deleted record back; a tombstone
// keeps no values and no user id. A resent Move recognises its own
// tombstone, live or expired, until the reaper takes it.
//
// DeleteUser's transaction works on the user's rows rather than one record:
// it ends each live session as a logout does, leaving a tombstone that
// forwards nothing until the session would have expired, so that a request
// still in flight with its token drops its changes instead of saving them in
// a new session, and deletes the user's expired rows ([Store.DeleteUser]
// says how its five statements stay consistent at READ COMMITTED).
//
// # Late writes
//
// Commit, Touch and Move do not apply once the caller's deadline has passed
// by the server's clock (SYSDATE(6), read when the statement runs, not when
// it began): Touch checks it in its UPDATE's WHERE clause, evaluated once
// the row lock is held; the transactions check it in their last statement
// before COMMIT. The error matches [context.DeadlineExceeded]. What remains
// is the COMMIT's own round trip: a COMMIT that is sent in time and delayed
// in the network still applies. Expiry itself is judged by the
// application's clock ([WithClock]), as with every backend.
//
// # Size limit
//
// The per-record limit ([WithMaxRecordSize], 1 MiB by default) counts what
// [store.Record.Size] counts, and a commit over it is refused with a
// [*store.TooLargeError], changing nothing. Values are stored as they are,
// so MySQL holds about the same bytes. Each value travels in one packet, and
// the attributes in one (a row Load reads holds them and a value), so the
// server's max_allowed_packet must exceed the limit: New refuses to start
// otherwise, and a write the server refuses for its packet size (the setting
// lowered later) fails with a [*PacketTooSmallError] that says which setting
// to change. User ids are limited to [MaxUserIDLen] bytes and IDs to 255.
// So that the attributes' encoding (lengths and a header, a few bytes each)
// stays within the packet's slack, attributes whose encoding adds more than
// 4 KiB to their size (over a thousand short ones) are refused with an error
// matching [store.ErrTooLarge].
//
// # Reaper
//
// Expired records are invisible from the moment they expire. A reaper
// goroutine deletes them, a minute after expiry, every [WithReapInterval],
// in DELETE statements of at most [WithReapBatch] rows (their values go by
// the foreign key's cascade). One store at a time per table, across all
// nodes, reaps: a round runs on one connection holding a GET_LOCK named
// after the database and table, and a node that finds it taken skips the
// round. The server releases the lock if that connection dies. [Store.Close]
// stops the reaper.
//
// # Hybrid tier
//
// MySQL has no LISTEN/NOTIFY, so the store is not a [store.Notifier]; it is
// a [store.Versioner]: the version is one primary-key lookup of a bigint.
// A hybridstore in front of it revalidates every local hit with that read,
// so a write or revocation on another node is seen at once, at the cost of
// one small round trip per hit.
//
// # Failures
//
// A server that is down or unreachable makes every call fail with the
// driver's error, wrapped: never a nil record with a nil error, so the
// session manager answers 503 rather than starting an empty session. A
// write whose reply was lost may have applied; every write is safe to run
// again. database/sql discards broken connections and dials new ones, so
// the store recovers by itself when the server is back.
//
// # MySQL 8 and MariaDB
//
// The statements use only syntax both accept: no row alias in INSERT ...
// ON DUPLICATE KEY UPDATE (MySQL 8.0.19+) but VALUES(v), which MySQL 8
// accepts with a deprecation note; no JSON, no CTEs, no window functions;
// SET TRANSACTION through database/sql's isolation option. The tests run on
// MariaDB 10.11 (Debian's mariadb-server), started by internal/testserver.
package mysqlstore
