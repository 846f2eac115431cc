// Package chore runs a value's periodic housekeeping (a store's sweep of
// expired records, a recheck of a server's setting) from the value's own
// calls instead of a ticker.
//
// A pending runtime timer is not free while it waits: with one in its heap,
// every scheduling decision of the Go runtime reads the clock, which an HTTP
// server makes several of per request. A [Chore] keeps no timer and no
// goroutine between runs: the calls of its owner, which read the clock
// anyway, start the job once the interval has passed, in a goroutine of its
// own, so no call waits for it. An owner nobody calls does no housekeeping,
// which is what an idle process needs.
package chore

import (
	"sync"
	"sync/atomic"
	"time"
)

// A Chore runs a job at most once per interval, started by [Chore.Poke]. It
// is safe for concurrent use.
type Chore struct {
	every int64 // nanoseconds
	job   func()
	next  atomic.Int64 // Unix nanoseconds before which Poke does nothing

	mu      sync.Mutex // serialises starts and Close
	running bool
	closed  bool
	wg      sync.WaitGroup
}

// New returns a Chore that runs job at most once every d (d > 0), first due
// at first. It runs nothing until [Chore.Poke] or [Chore.Start].
func New(d time.Duration, first time.Time, job func()) *Chore {
	c := &Chore{every: int64(d), job: job}
	c.next.Store(first.UnixNano())
	return c
}

// Poke starts the job in a goroutine of its own if at least the interval has
// passed, by now, since the last start, and the job is not running. It costs
// an atomic load when it is not due. A clock that went back by more than the
// interval makes the job due at once, so a jump back does not stop the
// housekeeping until the clock catches up.
func (c *Chore) Poke(now time.Time) {
	if t := now.UnixNano(); c.due(t) {
		c.start(t, false)
	}
}

func (c *Chore) due(t int64) bool {
	next := c.next.Load()
	return t >= next || t < next-2*c.every
}

// Start starts the job now, whether it is due or not, unless it is running
// or c is closed.
func (c *Chore) Start(now time.Time) { c.start(now.UnixNano(), true) }

func (c *Chore) start(t int64, force bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Another Poke may have started (and finished) the job since this
	// one found it due.
	if c.running || c.closed || !force && !c.due(t) {
		return
	}
	c.next.Store(t + c.every)
	c.running = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.job()
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()
}

// Close waits for a running job to return and makes later calls of Poke and
// Start do nothing. It is idempotent.
func (c *Chore) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}
