package session

import (
	"context"
	"time"

	"github.com/tether-go/tether/store"
)

// Every store call goes through one of these: each gets its own deadline, and
// writes outlive the request's cancellation, so a client that hung up does not
// leave half of what its handler was told was saved.

func (m *Manager) readCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.cfg.storeTimeout)
}

func (m *Manager) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), m.cfg.storeTimeout)
}

func (m *Manager) callLoad(ctx context.Context, id string) (*store.Record, error) {
	ctx, cancel := m.readCtx(ctx)
	defer cancel()
	return m.cfg.store.Load(ctx, id)
}

func (m *Manager) callCommit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	ctx, cancel := m.writeCtx(ctx)
	defer cancel()
	return m.cfg.store.Commit(ctx, id, c)
}

func (m *Manager) callTouch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	ctx, cancel := m.writeCtx(ctx)
	defer cancel()
	return m.cfg.store.Touch(ctx, id, lastSeen, expires)
}

func (m *Manager) callMove(ctx context.Context, id string, mv store.Moved, expires time.Time, ifVersion uint64) error {
	ctx, cancel := m.writeCtx(ctx)
	defer cancel()
	return m.cfg.store.Move(ctx, id, mv, expires, ifVersion)
}

func (m *Manager) callDelete(ctx context.Context, id string) error {
	ctx, cancel := m.writeCtx(ctx)
	defer cancel()
	return m.cfg.store.Delete(ctx, id)
}

func (m *Manager) callUserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	ctx, cancel := m.readCtx(ctx)
	defer cancel()
	return m.cfg.store.UserSessions(ctx, userID)
}

func (m *Manager) callDeleteUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel := m.writeCtx(ctx)
	defer cancel()
	return m.cfg.store.DeleteUser(ctx, userID)
}
