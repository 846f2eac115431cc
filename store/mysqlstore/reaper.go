package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// reapGrace is how long after its expiry a row is left before the reaper
// deletes it. An expired row is invisible to every call from the moment it
// expires, so the grace costs only space; it keeps a node whose clock runs
// ahead from deleting rows that nodes with slower clocks still consider live.
const reapGrace = time.Minute

// reapEvent is what the reaper reports to the test hook (config.onReap).
type reapEvent struct {
	kind    reapKind
	deleted int   // rows the batch deleted (reapBatchDone)
	err     error // reapFailed
}

type reapKind int

const (
	reapBusy      reapKind = iota // another session holds the lock: the round ends
	reapLocked                    // this store holds the lock, about to delete
	reapBatchDone                 // a batch committed
	reapUnlocked                  // the round is over, the lock released
	reapFailed                    // the round failed
)

// reaper deletes expired rows every reap interval until Close.
func (s *Store) reaper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.reapInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			n, err := s.reap(s.ctx)
			switch {
			case err != nil && s.ctx.Err() == nil:
				s.cfg.log.Warn("mysqlstore: reaping expired sessions failed", "table", s.n.display, "deleted", n, "err", err)
				s.hook(reapEvent{kind: reapFailed, err: err})
			case n > 0:
				s.cfg.log.Debug("mysqlstore: reaped expired sessions", "table", s.n.display, "deleted", n)
			}
		}
	}
}

func (s *Store) hook(ev reapEvent) {
	if s.cfg.onReap != nil {
		s.cfg.onReap(ev)
	}
}

// reap runs one round on one connection that holds the table's reaper lock
// (GET_LOCK, server-wide, named after the database and table), so that one
// store at a time, across all nodes, deletes: batches of at most reapBatch
// rows, each its own autocommitted DELETE, until one comes back short. It
// returns the number of rows deleted.
//
// GET_LOCK belongs to the connection: the server releases it when the
// connection ends, so a node that dies mid-round does not block the others.
// If the release cannot be confirmed, the connection is discarded rather
// than returned to the pool still holding the lock.
func (s *Store) reap(ctx context.Context) (total int, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, s.wrap("reap", err)
	}
	released := false
	defer func() {
		if !released {
			// Closing a connection that says it is bad removes it from
			// the pool; the server then drops the lock with it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", s.reapLock).Scan(&got); err != nil {
		return 0, s.wrap("reap", err)
	}
	if got.Int64 != 1 {
		released = true // never held
		s.hook(reapEvent{kind: reapBusy})
		return 0, nil
	}
	s.hook(reapEvent{kind: reapLocked})
	del := fmt.Sprintf("DELETE FROM %s WHERE expires <= ? ORDER BY expires LIMIT %d", s.n.table, s.cfg.reapBatch)
	for ctx.Err() == nil {
		res, err := conn.ExecContext(ctx, del, s.cfg.now().Add(-reapGrace).UnixNano())
		if err != nil {
			return total, s.wrap("reap", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
		s.hook(reapEvent{kind: reapBatchDone, deleted: int(n)})
		if int(n) < s.cfg.reapBatch {
			break
		}
	}
	var rel sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", s.reapLock).Scan(&rel); err == nil && rel.Int64 == 1 {
		released = true
	}
	s.hook(reapEvent{kind: reapUnlocked})
	return total, ctx.Err()
}
