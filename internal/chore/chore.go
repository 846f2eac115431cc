// Package chore runs a value's periodic housekeeping (a store's sweep of
// expired records, a recheck of a server's setting) from the value's own
// calls instead of a ticker.
//
// A pending runtime timer is not free while it waits: with one in its heap,
// every scheduling decision of the Go runtime reads the clock, which an HTTP
// server makes several of per request. A [Chore] keeps no timer and no
// goroutine between runs: the calls of its owner, which read the clock
// anyway, start the job once the interval has passed, either in a goroutine
// of its own ([Chore.Poke]) or in the calling goroutine ([Chore.Claim]), for
// a job whose result the call must not go without. An owner nobody calls
// does no housekeeping, which is what an idle process needs.
package chore

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// A Chore runs a job at most once per interval. It is safe for concurrent
// use. Times are kept in Unix microseconds, which reach ±290,000 years: any
// clock a test injects, and any interval a time.Duration holds, without
// overflow.
type Chore struct {
	every int64 // microseconds, at least 1
	job   func()
	next  atomic.Int64 // Unix microseconds before which the job is not due

	mu      sync.Mutex // serialises claims and Close
	running bool
	closed  bool
	wg      sync.WaitGroup
}

// New returns a Chore that runs job at most once every d (d > 0), first due
// at first. It runs nothing until [Chore.Poke], [Chore.Start] or
// [Chore.Claim]. job must not call [Chore.Close].
func New(d time.Duration, first time.Time, job func()) *Chore {
	c := &Chore{every: max(d.Microseconds(), 1), job: job}
	c.next.Store(first.UnixMicro())
	return c
}

// Poke starts the job in a goroutine of its own if it is due by now (see
// [Chore.Claim]). It costs an atomic load when it is not.
func (c *Chore) Poke(now time.Time) {
	if t := now.UnixMicro(); c.due(t) {
		c.spawn(c.claim(t, false))
	}
}

// Start starts the job in a goroutine of its own now, whether it is due or
// not, unless it is running or c is closed.
func (c *Chore) Start(now time.Time) {
	c.spawn(c.claim(now.UnixMicro(), true))
}

// spawn runs the job in a goroutine of its own if the claim succeeded.
func (c *Chore) spawn(done func(), ok bool) {
	if ok {
		go func() {
			defer done()
			c.job()
		}()
	}
}

// Claim reports whether the job is due by now (at least the interval has
// passed since the last start, or the clock went back by more than the
// interval) and not running, and if so marks it running and returns done,
// which the caller must call once it has run the job (or what stands for it)
// in its own goroutine. A caller that cannot go on with a result older than
// the interval runs the job itself; callers meanwhile find it not due, and
// go on with the last result, as they would while a started job runs.
func (c *Chore) Claim(now time.Time) (done func(), ok bool) {
	t := now.UnixMicro()
	if !c.due(t) {
		return nil, false
	}
	return c.claim(t, false)
}

func (c *Chore) due(t int64) bool {
	next := c.next.Load()
	return t >= next || t < sub(next, 2*c.every)
}

func (c *Chore) claim(t int64, force bool) (done func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Another call may have claimed (and finished) the job since this one
	// found it due.
	if c.running || c.closed || !force && !c.due(t) {
		return nil, false
	}
	c.next.Store(add(t, c.every))
	c.running = true
	c.wg.Add(1)
	return func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
		c.wg.Done()
	}, true
}

// Again makes the job due at once: for a caller that claimed it and could
// not run it to the end (its own deadline cut it short), so that the next
// call runs it instead of going by the old result for a whole interval.
func (c *Chore) Again() { c.next.Store(math.MinInt64) }

// Close waits for a running job to return and makes later calls of Poke,
// Start and Claim do nothing. It is idempotent.
func (c *Chore) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}

// add and sub saturate instead of wrapping.
func add(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func sub(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}
