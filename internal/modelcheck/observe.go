package modelcheck

import (
	"context"
	"sync/atomic"

	"github.com/tether-go/tether/session"
)

// A request cannot tell from its cookie alone whether the token it was handed
// names a brand-new session (its old one had ended) or the same session under
// a new token (a rotation, a forward). The model must know: a new session
// starts a new label. So every request carries a created flag in its context,
// and an Observer sets it when the Manager reports EventCreated.

type createdKey struct{}

func withCreated(ctx context.Context, flag *atomic.Bool) context.Context {
	return context.WithValue(ctx, createdKey{}, flag)
}

// creations is the Observer that sets a request's created flag.
type creations struct{}

func (creations) StoreStart(ctx context.Context, _ session.StoreStartData) context.Context {
	return ctx
}

func (creations) StoreEnd(context.Context, session.StoreEndData) {}

func (creations) Event(ctx context.Context, d session.EventData) {
	if d.Kind != session.EventCreated {
		return
	}
	if flag, ok := ctx.Value(createdKey{}).(*atomic.Bool); ok {
		flag.Store(true)
	}
}
