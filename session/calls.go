package session

import (
	"context"
	"time"

	"github.com/tether-go/tether/store"
)

// Every store call goes through one of these: each gets its deadline from the
// store timeout and the request's store budget (see startCall) and is
// observed, and writes outlive the request's cancellation, so a client that
// hung up does not leave half of what its handler was told was saved.

func (m *Manager) callLoad(ctx context.Context, id string) (rec *store.Record, err error) {
	err = m.run(ctx, OpLoad, false, func(ctx context.Context) (StoreEndData, error) {
		var trace *store.LoadTrace
		if m.obs != nil {
			trace = &store.LoadTrace{}
			ctx = store.WithLoadTrace(ctx, trace)
		}
		rec, err = m.cfg.store.Load(ctx, id)
		if m.obs == nil {
			return StoreEndData{}, err // what follows is only observed: no clock read
		}
		d := StoreEndData{
			Found:  rec != nil && rec.Moved == nil && rec.Live(m.cfg.now()),
			Moved:  rec != nil && rec.Moved != nil,
			Source: trace.Source,
		}
		return d, err
	})
	return rec, err
}

func (m *Manager) callCommit(ctx context.Context, id string, c store.Change) (res store.Result, err error) {
	err = m.run(ctx, OpCommit, true, func(ctx context.Context) (StoreEndData, error) {
		res, err = m.cfg.store.Commit(ctx, id, c)
		d := StoreEndData{Mode: c.Mode, Keys: len(c.Set) + len(c.Delete)}
		if m.obs != nil {
			for _, v := range c.Set {
				d.Bytes += len(v)
			}
		}
		return d, err
	})
	return res, err
}

func (m *Manager) callTouch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	return m.run(ctx, OpTouch, true, func(ctx context.Context) (StoreEndData, error) {
		return StoreEndData{}, m.cfg.store.Touch(ctx, id, lastSeen, expires)
	})
}

func (m *Manager) callMove(ctx context.Context, id string, mv store.Moved, expires time.Time, ifVersion uint64) error {
	return m.run(ctx, OpMove, true, func(ctx context.Context) (StoreEndData, error) {
		return StoreEndData{}, m.cfg.store.Move(ctx, id, mv, expires, ifVersion)
	})
}

func (m *Manager) callDelete(ctx context.Context, id string) error {
	return m.run(ctx, OpDelete, true, func(ctx context.Context) (StoreEndData, error) {
		return StoreEndData{}, m.cfg.store.Delete(ctx, id)
	})
}

func (m *Manager) callUserSessions(ctx context.Context, userID string) (infos []store.Info, err error) {
	err = m.run(ctx, OpUserSessions, false, func(ctx context.Context) (StoreEndData, error) {
		infos, err = m.cfg.store.UserSessions(ctx, userID)
		return StoreEndData{}, err
	})
	return infos, err
}

func (m *Manager) callDeleteUser(ctx context.Context, userID string) (n int, err error) {
	err = m.run(ctx, OpDeleteUser, true, func(ctx context.Context) (StoreEndData, error) {
		n, err = m.cfg.store.DeleteUser(ctx, userID)
		return StoreEndData{}, err
	})
	return n, err
}
