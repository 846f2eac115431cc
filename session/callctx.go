package session

import (
	"context"
	"sync"
	"time"
)

// callCtx is a store call's context: its parent with a deadline, like
// context.WithDeadlineCause(parent, deadline, errStoreDeadline), but with
// nothing armed until someone waits. context.WithDeadlineCause allocates a
// context, a done channel and a runtime timer for every call, and registers
// with its parent, although most stores never wait on Done: the memory
// store only asks Err, and go-redis asks for Done only to check it without
// waiting before it takes a pooled connection. Here Err compares the clock
// with the deadline; Done, the first time it is called, makes the channel
// and hands the call to the Manager's callWatch, which closes it if the
// deadline passes or the parent ends in the call's first millisecond or
// two, and otherwise arms the timer and the parent's watch once (see
// callWatch).
//
// It behaves as the standard context, but for the moment Done closes: Deadline
// is the earlier of the parent's and its own; Err is nil until the deadline
// passes or the parent ends, then DeadlineExceeded or the parent's error, for
// good; Done, once made, is closed at that moment, or, in the call's first
// two ticks of the watch, within a tick (watchTick) of it; callCause gives
// the cause (errStoreDeadline for its own deadline), which context.Cause
// cannot see (it looks for the standard library's own cancelCtx). AfterFunc
// lets contexts derived from it (context.WithTimeout in a store) register
// without a goroutine each.
type callCtx struct {
	parent   context.Context
	deadline time.Time
	watch    *callWatch

	mu     sync.Mutex
	err    error // set once: the context ended
	cause  error
	done   chan struct{} // made by the first Done, which hands the call to the watch
	timer  *time.Timer   // armed by the watch for a call that outlived a tick
	stop   func() bool   // stops the parent's watch, armed with timer
	afters []*afterFunc

	// Guarded by the watch's shard lock: whether the call is in the
	// shard's list, where, and the watch's tick when it was added.
	inShard bool
	slot    int
	born    uint64
}

type afterFunc struct {
	f    func()
	done bool // ran or stopped
}

func newCallCtx(w *callWatch, parent context.Context, deadline time.Time) *callCtx {
	return &callCtx{parent: parent, deadline: deadline, watch: w}
}

func (c *callCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *callCtx) Value(key any) any { return c.parent.Value(key) }

func (c *callCtx) String() string { return "session.storeCall" }

// Err reports the end of the context, checking the clock and the parent
// itself when nothing is armed.
func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checkLocked()
	return c.err
}

// checkLocked ends the context if its deadline has passed or its parent
// ended. c.mu is held.
func (c *callCtx) checkLocked() {
	if c.err != nil {
		return
	}
	if err := c.parent.Err(); err != nil {
		c.endLocked(err, context.Cause(c.parent))
		return
	}
	if time.Until(c.deadline) <= 0 { // the monotonic clock alone: half a time.Now
		c.endLocked(context.DeadlineExceeded, errStoreDeadline)
	}
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	// Checked before the channel exists: a check that ends the context
	// now must not close it, or the close below would be a second one.
	c.checkLocked()
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	c.watch.add(c)
	return c.done
}

// poll ends the context if its deadline has passed or its parent ended: the
// watch's check of a young call.
func (c *callCtx) poll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checkLocked()
}

// arm gives a call that outlived the watch's first tick what
// context.WithDeadline would have given it at once: a timer at its deadline
// and a watch on its parent. The watch has let go of it.
func (c *callCtx) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checkLocked(); c.err != nil {
		return
	}
	c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.end(context.DeadlineExceeded, errStoreDeadline) })
	if c.parent.Done() != nil {
		c.stop = context.AfterFunc(c.parent, func() { c.end(c.parent.Err(), context.Cause(c.parent)) })
	}
}

func (c *callCtx) end(err, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.endLocked(err, cause)
	}
}

// endLocked records the end, closes Done if it was made, and runs the
// registered functions. c.mu is held and c.err is nil.
func (c *callCtx) endLocked(err, cause error) {
	c.err, c.cause = err, cause
	if c.done != nil {
		close(c.done)
	}
	c.releaseLocked()
	for _, a := range c.afters {
		if !a.done {
			a.done = true
			go a.f()
		}
	}
	c.afters = nil
}

func (c *callCtx) releaseLocked() {
	if c.done != nil {
		c.watch.remove(c) // if it still holds the call
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
}

// cancel ends the call: its context is canceled if it had not ended, as
// the CancelFunc of context.WithDeadlineCause does.
func (c *callCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.endLocked(context.Canceled, context.Canceled)
	}
}

// AfterFunc arranges for f to run in its own goroutine once c ends, as
// context.AfterFunc does; the context package uses it to tie contexts
// derived from c to it without a goroutine of their own.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	c.Done() // hand the call to the watch
	c.mu.Lock()
	defer c.mu.Unlock()
	a := &afterFunc{f: f}
	if c.err != nil {
		a.done = true
		go f()
	} else {
		c.afters = append(c.afters, a)
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.done {
			return false
		}
		a.done = true
		return true
	}
}

// callCause is context.Cause for a store call's context and those derived
// from it by values only (an observer's span), which context.Cause answers
// with the parent's cause for lack of a cancelCtx of its own.
func callCause(ctx context.Context) error {
	if c, ok := ctx.(*callCtx); ok {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.checkLocked()
		return c.cause
	}
	return context.Cause(ctx)
}
