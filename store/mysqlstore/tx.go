package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tether-go/tether/store"
)

// txOptions pins the isolation level of the store's transactions to READ
// COMMITTED, whatever the server's or the session's default (InnoDB's is
// REPEATABLE READ). The transactions lock the record's row first and then
// read and write only that record's rows by primary key, so they need no
// snapshot; under REPEATABLE READ, InnoDB would also take gap and next-key
// locks for the values' INSERT ... ON DUPLICATE KEY and DELETE, which make
// commits of different sessions whose keys sit next to each other in the
// index deadlock one another. The driver sends SET TRANSACTION ISOLATION
// LEVEL before START TRANSACTION: it applies to that transaction only.
var txOptions = &sql.TxOptions{Isolation: sql.LevelReadCommitted}

// maxAttempts bounds how often a transaction is run again after InnoDB
// chose it as a deadlock victim (rolled back, nothing applied) or after a
// Create's INSERT met a row a concurrent Create had just inserted. Past the
// bound the write reports store.ErrConflict.
const maxAttempts = 3

// verdict carries a transaction's outcome under the contract (ErrNotFound,
// a MovedError, …): the transaction is rolled back and the error returned
// as it is, without a retry or a prefix.
type verdict struct{ err error }

func (v verdict) Error() string { return v.err.Error() }

func judge(err error) error { return verdict{err} }

// inTx runs fn in a READ COMMITTED transaction and commits it, running it
// again when InnoDB rolled it back for a deadlock or a duplicate key.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		tx, err := s.db.BeginTx(ctx, txOptions)
		if err != nil {
			return s.wrap(op, err)
		}
		err = fn(tx)
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if err == nil {
			return nil
		}
		if v, ok := errors.AsType[verdict](err); ok {
			return v.err
		}
		if retryable(err) {
			if attempt < maxAttempts {
				continue
			}
			return fmt.Errorf("mysqlstore: %s: %w (after %d attempts: %v)", op, store.ErrConflict, attempt, err)
		}
		return s.wrap(op, err)
	}
}

// retryable reports whether err is one after which InnoDB has changed
// nothing and a new attempt may succeed: a deadlock (1213), or a duplicate
// key (1062) that only a concurrent insert of the same ID causes.
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1062)
}

// isDuplicate reports whether err is a duplicate key (1062).
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// errLate is the outcome of a write that reached the server after its
// caller's deadline, by the server's clock: it changed nothing.
var errLate = fmt.Errorf("mysqlstore: write refused: it reached the server after its deadline: %w", context.DeadlineExceeded)

// deadline returns ctx's deadline, in microseconds since the epoch, for the
// statements' late-write check, or nil (SQL NULL: no check) if there is
// none. The store's calls always have one (WithTimeout).
func (s *Store) deadline(ctx context.Context) any {
	d, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	return d.Add(-s.cfg.deadlineShift).UnixMicro()
}

// optTime passes a zero time as NULL: an Update that leaves LastSeen or
// Expires zero keeps the stored one.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// optString passes "" as NULL: no user.
func optString(s string) any {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// wrap prefixes a driver or network error with the operation, and turns the
// server's refusal of a packet into a [*PacketTooSmallError]. Context errors
// stay matchable with errors.Is.
func (s *Store) wrap(op string, err error) error {
	var me *mysql.MySQLError
	if errors.Is(err, mysql.ErrPktTooLarge) || errors.As(err, &me) && me.Number == 1153 {
		return fmt.Errorf("mysqlstore: %s: %w", op, &PacketTooSmallError{MaxRecordSize: s.cfg.maxRecordSize})
	}
	return fmt.Errorf("mysqlstore: %s: %w", op, err)
}
