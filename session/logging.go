package session

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tether-go/tether/store"
)

// logEvery is the least time between two log records of one kind. An outage
// fails every request; the log should say so, not repeat it thousands of
// times a second.
const logEvery = time.Second

// limiter lets one record of a kind through per logEvery and counts the rest,
// so the next record that goes out says how many were suppressed.
type limiter struct {
	next       atomic.Int64 // unix nanos before which records are suppressed
	suppressed atomic.Int64
}

// allow reports whether a record may go out now, and how many were
// suppressed since the last one.
func (l *limiter) allow(now time.Time) (bool, int64) {
	next := l.next.Load()
	if now.UnixNano() < next || !l.next.CompareAndSwap(next, now.Add(logEvery).UnixNano()) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

// logFault logs a store fault (not a contract outcome such as not-found),
// rate-limited per operation.
func (m *Manager) logFault(op Op, err error) {
	if err == nil || errors.Is(err, store.ErrTooLarge) || errors.Is(err, context.Canceled) {
		return
	}
	// A contract outcome (not found, moved, exists, a lost race) is the
	// answer of a store that works, except from UserSessions and
	// DeleteUser: a conflict there is a listing or a logout everywhere that
	// failed, handed to the caller, and the log must show it.
	if isStoreOutcome(err) && !((op == OpUserSessions || op == OpDeleteUser) && errors.Is(err, store.ErrConflict)) {
		return
	}
	if int(op) >= len(m.faultLog) {
		return
	}
	ok, suppressed := m.faultLog[op].allow(time.Now())
	if !ok {
		return
	}
	m.log.LogAttrs(context.Background(), slog.LevelError, "session: store call failed",
		slog.String("op", op.String()), slog.Any("err", err), slog.Int64("suppressed", suppressed))
}

// logDropped logs changes that were not saved, rate-limited.
func (m *Manager) logDropped(reason, id string, keys int) {
	ok, suppressed := m.droppedLog.allow(time.Now())
	if !ok {
		return
	}
	m.log.LogAttrs(context.Background(), slog.LevelWarn, "session: changes dropped",
		slog.String("reason", reason), slog.String("id", shortID(id)), slog.Int("keys", keys), slog.Int64("suppressed", suppressed))
}

// logRestart logs a write whose cookie's session had ended before the
// request came, saved in a new session, rate-limited.
func (m *Manager) logRestart(id string, keys int) {
	ok, suppressed := m.restartLog.allow(time.Now())
	if !ok {
		return
	}
	m.log.LogAttrs(context.Background(), slog.LevelInfo, "session: the cookie's session had ended (expired, destroyed or unknown); the request's changes start a new session",
		slog.String("id", shortID(id)), slog.Int("keys", keys), slog.Int64("suppressed", suppressed))
}
