package modelcheck

import (
	"context"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/tether-go/tether/store"
)

// jitter wraps a store and, before each call, gives way to other goroutines
// a random number of times. An in-process store answers in microseconds, and
// on a busy machine the requests of a round then often run one after
// another: a login's rotation (create the new record, then move the old one)
// finishes before a concurrent rotation of the same token even starts. The
// races this checker hunts sit between store calls; yielding there makes
// them happen on one core as on many. Over the network the round trips
// interleave requests on their own.
type jitter struct{ store.Store }

func (j jitter) yield() {
	for range rand.IntN(4) {
		runtime.Gosched()
	}
}

func (j jitter) Load(ctx context.Context, id string) (*store.Record, error) {
	j.yield()
	return j.Store.Load(ctx, id)
}

func (j jitter) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	j.yield()
	return j.Store.Commit(ctx, id, c)
}

func (j jitter) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	j.yield()
	return j.Store.Touch(ctx, id, lastSeen, expires)
}

func (j jitter) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	j.yield()
	return j.Store.Move(ctx, id, m, expires, ifVersion)
}

func (j jitter) Delete(ctx context.Context, id string) error {
	j.yield()
	return j.Store.Delete(ctx, id)
}

func (j jitter) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	j.yield()
	return j.Store.UserSessions(ctx, userID)
}

func (j jitter) DeleteUser(ctx context.Context, userID string) (int, error) {
	j.yield()
	return j.Store.DeleteUser(ctx, userID)
}
