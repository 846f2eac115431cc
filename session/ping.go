package session

import (
	"context"

	"github.com/tether-go/tether/store"
)

// Ping reports whether the Manager can reach its store, for a readiness probe
// (/readyz): a pod whose store is unreachable answers every request that uses
// its session with 503, so it should leave the load balancer's rotation.
//
// It calls the store's Ping if the store implements [store.Pinger] (every
// store of this module does, and the hybrid tier passes it to its remote),
// bounded by the store timeout; a store without it is taken as reachable. After
// [Manager.Close] it returns [ErrClosed].
func (m *Manager) Ping(ctx context.Context) error {
	if m.closed.Load() {
		return ErrClosed
	}
	p, ok := m.cfg.store.(store.Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.storeTimeout)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		return &StoreError{Op: "ping", Err: err}
	}
	return nil
}
