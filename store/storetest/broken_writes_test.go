package storetest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/tether-go/tether/store"
)

// Broken stores for the contract's rules on writes: a resent Move, a
// tombstone that forwards nothing, the per-record limit, late writes.

// resendMoved answers a resent Move with the tombstone's MovedError, as
// stores did before Move recognised its own effect.
type resendMoved struct{ broken }

func (b resendMoved) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	if rec, err := b.Store.Load(ctx, id); err == nil && rec != nil && rec.Moved != nil {
		return &store.MovedError{Moved: *rec.Moved}
	}
	return b.Store.Move(ctx, id, m, expires, ifVersion)
}

// endedTombstone mishandles a Move with nothing sealed: it forwards anyway
// (sealing the new ID, as a store that "fills in" a missing field would),
// refuses it, or deletes the record instead of keeping a tombstone.
type endedTombstone struct {
	broken
	how string // "forward", "refuse" or "delete"
}

func (b endedTombstone) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	if len(m.Sealed) > 0 {
		return b.Store.Move(ctx, id, m, expires, ifVersion)
	}
	switch b.how {
	case "forward":
		m.Sealed = []byte(m.To)
	case "refuse":
		return errors.New("move: no sealed token")
	case "delete":
		if rec, err := b.Store.Load(ctx, id); err != nil || rec == nil || rec.Moved != nil || rec.Version != ifVersion {
			return b.Store.Move(ctx, id, m, expires, ifVersion)
		}
		return b.Store.Delete(ctx, id)
	}
	return b.Store.Move(ctx, id, m, expires, ifVersion)
}

// base64Size counts values at their base64 length against the per-record
// limit, as a store that encodes them before checking would.
type base64Size struct{ broken }

func (b base64Size) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	var values store.Values
	user := c.UserID
	if c.Mode == store.Update {
		rec, err := b.Store.Load(ctx, id)
		if err != nil || rec == nil {
			return b.Store.Commit(ctx, id, c)
		}
		values = rec.Values
		if !c.SetUserID {
			user = rec.UserID
		}
	}
	n := len(user)
	for k, v := range c.Apply(values).All() {
		n += len(k) + base64.StdEncoding.EncodedLen(len(v))
	}
	if n > mutantRecordLimit {
		return store.Result{}, &store.TooLargeError{Size: n, Limit: mutantRecordLimit}
	}
	return b.Store.Commit(ctx, id, c)
}

// lateWrites applies writes whatever their deadline, as a store that checks
// only ctx.Err() before sending would.
type lateWrites struct{ broken }

func noDeadline(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

func (b lateWrites) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	ctx, err := noDeadline(ctx)
	if err != nil {
		return store.Result{}, err
	}
	return b.Store.Commit(ctx, id, c)
}

func (b lateWrites) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	ctx, err := noDeadline(ctx)
	if err != nil {
		return err
	}
	return b.Store.Touch(ctx, id, lastSeen, expires)
}

func (b lateWrites) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	ctx, err := noDeadline(ctx)
	if err != nil {
		return err
	}
	return b.Store.Move(ctx, id, m, expires, ifVersion)
}

// deadlineRefused refuses every write that has a deadline, as a store that
// compares it the wrong way round (or in the wrong unit) would.
type deadlineRefused struct{ broken }

func refuseDeadline(ctx context.Context) error {
	if _, ok := ctx.Deadline(); ok {
		return fmt.Errorf("write too late: %w", context.DeadlineExceeded)
	}
	return nil
}

func (b deadlineRefused) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if err := refuseDeadline(ctx); err != nil {
		return store.Result{}, err
	}
	return b.Store.Commit(ctx, id, c)
}

func (b deadlineRefused) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	if err := refuseDeadline(ctx); err != nil {
		return err
	}
	return b.Store.Touch(ctx, id, lastSeen, expires)
}

func (b deadlineRefused) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	if err := refuseDeadline(ctx); err != nil {
		return err
	}
	return b.Store.Move(ctx, id, m, expires, ifVersion)
}
