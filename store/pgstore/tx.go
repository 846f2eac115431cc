package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// beginReadCommitted starts a write's second attempt. The statements rely on
// READ COMMITTED's rule that an UPDATE which waited for a row lock re-reads
// the row's newest version and applies to it: that is how concurrent commits
// to one session all land. Under a database or role default of REPEATABLE
// READ or SERIALIZABLE (default_transaction_isolation), the same UPDATE
// fails with a serialization error (SQLSTATE 40001) instead.
const beginReadCommitted = "BEGIN ISOLATION LEVEL READ COMMITTED"

// writeRow runs sql, a write statement that returns at most one row, and
// scans the row into dest. It returns pgx.ErrNoRows if the statement
// returned no row (and changed nothing).
//
// The statement runs first on its own, in the session's default isolation,
// which is READ COMMITTED unless configured otherwise. If it fails with a
// serialization failure (only possible under a stricter default, and only
// when another transaction changed the row concurrently), nothing was
// applied, and it runs once more in an explicit READ COMMITTED transaction,
// where it cannot fail that way: BEGIN, the statement and COMMIT go as one
// batch, one round trip. So the common configuration pays nothing for the
// stricter ones (an explicit transaction on every write costs about 10-15
// µs more per write), and those pay one round trip per conflicting write.
//
// A statement that fails inside the explicit transaction leaves its
// connection in an aborted transaction; pgxpool does not reuse such a
// connection (it closes it on release).
func (s *Store) writeRow(ctx context.Context, sql string, args []any, dest ...any) error {
	err := s.pool.QueryRow(ctx, sql, args...).Scan(dest...)
	if !isSerializationFailure(err) {
		return err
	}
	var b pgx.Batch
	b.Queue(beginReadCommitted)
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	br := s.pool.SendBatch(ctx, &b)
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(dest...)
		if err == nil || errors.Is(err, pgx.ErrNoRows) {
			if _, cerr := br.Exec(); cerr != nil {
				err = cerr
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// isSerializationFailure reports whether err is SQLSTATE 40001.
func isSerializationFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40001"
}

// errLate is the outcome of a write that reached the database after its
// caller's deadline, by the database's clock: it changed nothing.
var errLate = fmt.Errorf("pgstore: write refused: it reached Postgres after its deadline: %w", context.DeadlineExceeded)

// deadline returns ctx's deadline for the statements' late-write check, or
// nil (SQL NULL: no check) if there is none. The store's calls always have
// one (WithTimeout); the check uses the earlier of it and the caller's, the
// deadline after which the caller is answered with an error.
func deadline(ctx context.Context) any {
	if d, ok := ctx.Deadline(); ok {
		return d.Round(0) // wall clock only: it is compared with the server's
	}
	return nil
}

// optTime passes a zero time as NULL: an Update that leaves LastSeen or
// Expires zero keeps the stored one.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
