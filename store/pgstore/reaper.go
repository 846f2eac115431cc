package pgstore

import (
	"context"
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
	reapBusy      reapKind = iota // another session holds the lock: this round does nothing
	reapLocked                    // this store holds the lock and is about to delete
	reapBatchDone                 // one batch deleted
	reapUnlocked                  // the round is over and the lock released
	reapFailed                    // the round failed
)

// reaper deletes expired rows every reap interval until Close. Only one
// session at a time reaps a table, across all nodes: a round runs only while
// its connection holds a session-level advisory lock keyed by the table's OID.
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

// reap runs one round: take the lock or give up, delete expired rows in
// batches until a batch comes back short, release the lock. It returns the
// number of rows deleted.
func (s *Store) reap(ctx context.Context) (int, error) {
	actx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	conn, err := s.pool.Acquire(actx)
	cancel()
	if err != nil {
		return 0, wrap("reap", err)
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	var locked bool
	err = conn.QueryRow(lctx, s.q.tryLock, s.reapKey).Scan(&locked)
	cancel()
	if err != nil {
		conn.Release()
		return 0, wrap("reap", err)
	}
	if !locked {
		conn.Release()
		s.hook(reapEvent{kind: reapBusy})
		return 0, nil
	}
	defer func() {
		// The lock belongs to the connection's session: a connection
		// returned to the pool still holding it would stop every node's
		// reaper. If the unlock cannot be confirmed, the connection is
		// closed instead, which releases the lock on the server.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.timeout)
		defer cancel()
		var unlocked bool
		if err := conn.QueryRow(uctx, s.q.unlock, s.reapKey).Scan(&unlocked); err != nil || !unlocked {
			_ = conn.Hijack().Close(uctx)
		} else {
			conn.Release()
		}
		s.hook(reapEvent{kind: reapUnlocked})
	}()
	s.hook(reapEvent{kind: reapLocked})

	total := 0
	for ctx.Err() == nil {
		bctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
		tag, err := conn.Exec(bctx, s.q.reapBatch, s.now().Add(-reapGrace), s.cfg.reapBatch)
		cancel()
		if err != nil {
			return total, wrap("reap", err)
		}
		n := int(tag.RowsAffected())
		total += n
		s.hook(reapEvent{kind: reapBatchDone, deleted: n})
		if n < s.cfg.reapBatch {
			break
		}
	}
	return total, nil
}
