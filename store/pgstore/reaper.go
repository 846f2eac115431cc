package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
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
	reapLocked                    // a batch's transaction holds the lock and is about to delete
	reapBatchDone                 // the batch committed
	reapUnlocked                  // the batch's transaction is over, the lock released
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
				s.cfg.log.Warn("pgstore: reaping expired sessions failed", "table", s.n.display, "deleted", n, "err", err)
				s.hook(reapEvent{kind: reapFailed, err: err})
			case n > 0:
				s.cfg.log.Debug("pgstore: reaped expired sessions", "table", s.n.display, "deleted", n)
			}
		}
	}
}

func (s *Store) hook(ev reapEvent) {
	if s.cfg.onReap != nil {
		s.cfg.onReap(ev)
	}
}

// reap runs one round: batches until one comes back short, or another
// session holds the lock. It returns the number of rows deleted.
func (s *Store) reap(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n, locked, err := s.reapBatch(ctx)
		total += n
		if err != nil || !locked || n < s.cfg.reapBatch {
			return total, err
		}
	}
	return total, nil
}

// reapBatch deletes one batch of expired rows, in a transaction that holds
// the table's reaper lock, so that only one session at a time, across all
// nodes, deletes. The lock is transaction-scoped (pg_try_advisory_xact_lock)
// rather than held by a session across the round: it cannot outlive the
// transaction on a pooled connection, and it works through a pooler in
// transaction mode (PgBouncer), where a session lock would stay on a server
// connection nobody can unlock. locked is false if another session holds it.
func (s *Store) reapBatch(ctx context.Context) (n int, locked bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, s.q.tryLock, s.reapKey).Scan(&locked); err != nil || !locked {
			return err
		}
		s.hook(reapEvent{kind: reapLocked})
		tag, err := tx.Exec(ctx, s.q.reapBatch, s.now().Add(-reapGrace), s.cfg.reapBatch)
		n = int(tag.RowsAffected())
		return err
	})
	switch {
	case err != nil:
		n = 0 // rolled back
		err = wrap("reap", err)
	case !locked:
		s.hook(reapEvent{kind: reapBusy})
		return 0, false, nil
	default:
		s.hook(reapEvent{kind: reapBatchDone, deleted: n})
	}
	if locked {
		s.hook(reapEvent{kind: reapUnlocked})
	}
	return n, locked, err
}
