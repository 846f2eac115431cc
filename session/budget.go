package session

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// A request's store budget bounds the time all its store calls may take
// together: every call's deadline is the earlier of the store timeout and
// what is left of the budget. Without it, a chain of calls (a logout and a
// flash, a contended rotation's retries, several dead cookies) could hold a
// request for many store timeouts against a slow store.
//
// The budget counts time spent in store calls, not time since the first one:
// a handler that reads its session and then spends seconds on other work
// must still be able to save it.
type budget struct {
	spent atomic.Int64 // nanoseconds spent in store calls so far
}

type budgetKey struct{}

// budgetCtx carries a budget in a context. A Session holds one, so a
// request's budget costs no allocation; every lookup but the budget's goes to
// the parent, so cancellation, deadlines and values pass through unchanged.
type budgetCtx struct {
	context.Context
	b budget
}

func (c *budgetCtx) Value(key any) any {
	if key == (budgetKey{}) {
		return &c.b
	}
	return c.Context.Value(key)
}

func (c *budgetCtx) String() string { return "session.budget" }

// withBudget returns ctx with a budget of its own, for a Manager method:
// each call gets one budget for all the store calls it makes.
func withBudget(ctx context.Context) context.Context {
	return &budgetCtx{Context: ctx}
}

// ErrBudgetSpent matches the error of a store call that was not made because
// its request had spent its store budget ([WithStoreBudget]). It matches
// [context.DeadlineExceeded] too, and reaches the client as a store failure
// (503 with Retry-After by default).
var ErrBudgetSpent = fmt.Errorf("session: the request's store budget is spent: %w", context.DeadlineExceeded)

// errStoreDeadline is the cause of a store call's context that ended at the
// call's own deadline (the store timeout or the budget), as opposed to the
// request's context ending (the client went away, or the request's own
// deadline passed, as under http.TimeoutHandler).
var errStoreDeadline = fmt.Errorf("session: store call deadline: %w", context.DeadlineExceeded)

// requestEnded reports whether a store call failed because the request's own
// context ended: not the store's fault, and not worth an alert. A spent
// budget is the store's slowness, whatever became of the request.
func requestEnded(ctx context.Context, err error) bool {
	return err != nil && err != ErrBudgetSpent && ctx.Err() != nil && callCause(ctx) != errStoreDeadline
}

// storeCall is one store call's context and what its end must charge.
type storeCall struct {
	ctx   *callCtx
	b     *budget
	start time.Time
}

// startCall prepares one store call: its context, with the call's deadline,
// the earlier of the store timeout and what is left of the request's budget.
// A write's context does not end when the client goes away (the handler was
// told its data would be saved), but it keeps the deadline. With no budget
// left it returns ErrBudgetSpent, and the call must not be made.
func (m *Manager) startCall(ctx context.Context, write bool) (storeCall, error) {
	b, _ := ctx.Value(budgetKey{}).(*budget)
	start := m.wall()
	timeout := m.cfg.storeTimeout
	if b != nil {
		left := m.cfg.storeBudget - time.Duration(b.spent.Load())
		if left <= 0 {
			return storeCall{}, ErrBudgetSpent
		}
		timeout = min(timeout, left)
	}
	if write {
		ctx = context.WithoutCancel(ctx)
	}
	// The deadline is watched only if the store asks for Done (callCtx):
	// a memory store's call allocates one small context.
	return storeCall{ctx: newCallCtx(&m.watch, ctx, start.Add(timeout)), b: b, start: start}, nil
}

// end releases the call's context and charges its time to the budget.
func (c storeCall) end(m *Manager) {
	c.ctx.cancel()
	if c.b != nil {
		c.b.spent.Add(int64(m.since(c.start)))
	}
}

// run makes one store call through observe, within its deadline. A call the
// budget has no time for is observed and logged as failed without reaching
// the store.
func (m *Manager) run(ctx context.Context, op Op, write bool, call func(context.Context) (StoreEndData, error)) error {
	c, err := m.startCall(ctx, write)
	if err != nil {
		return m.observe(ctx, op, func(context.Context) (StoreEndData, error) { return StoreEndData{}, err })
	}
	defer c.end(m)
	return m.observe(c.ctx, op, call)
}
