package session

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// watchTick is the watch's period: how late, at most (and the scheduler's
// delay), Done closes after a young store call's deadline passed or its
// parent ended. Err is exact: it reads the clock.
const watchTick = time.Millisecond

// watchShards spreads the calls over locks, so that store calls running on
// many cores at once do not all take one.
const watchShards = 16

// A callWatch closes the Done channels of a Manager's store calls in their
// first millisecond or two, and arms a timer and a parent watch for the
// calls that last longer.
//
// A runtime timer per call and a watch on its parent, as
// context.WithDeadline arms, are what most calls no longer pay for. go-redis
// asks for Done on every command (a check without waiting, before it takes a
// pooled connection), and a store's own context.WithTimeout asks through
// AfterFunc, so every Redis call armed and stopped a timer and registered
// with the request's context: in process, most of the CPU the session
// library added to a bare Redis GET (BenchmarkOverhead/read, tether-redis
// against limit-redis, three batches of 8 rounds: 8.9, 7.7 and 6.5 µs added
// with a timer per call; 3.0, 2.3 and -0.6 µs with the watch, that is, at
// the measurement's noise). Such a call ends before the watch's second tick.
//
// One goroutine, running only while the watch holds calls, ticks every
// watchTick. At each tick it checks the calls added since the tick before
// (their deadline and their parent, as Err would), and hands every call
// that has lived through a whole tick to the runtime's timers (callCtx.arm):
// so a tick's work is bounded by the calls started in the last two ticks,
// however many wait (a pool exhausted under overload, a slow database).
type callWatch struct {
	ticks   atomic.Uint64 // ticks since the watch was made
	running atomic.Bool   // the goroutine runs (or is about to)
	_       [64 - 8 - 4]byte
	shards  [watchShards]watchShard
}

// A watchShard fills a cache line of its own, so that calls on different
// cores taking different shards do not share one.
type watchShard struct {
	mu    sync.Mutex
	calls []*callCtx // each knows its slot
	_     [64 - 8 - 24]byte
}

// shard is c's shard, by its address: calls made on different cores come
// from different allocation spans.
func (w *callWatch) shard(c *callCtx) *watchShard {
	return &w.shards[uintptr(unsafe.Pointer(c))/64%watchShards]
}

// add watches c. c.mu is held (it orders before a shard's mu).
func (w *callWatch) add(c *callCtx) {
	sh := w.shard(c)
	sh.mu.Lock()
	c.inShard, c.slot, c.born = true, len(sh.calls), w.ticks.Load()
	sh.calls = append(sh.calls, c)
	sh.mu.Unlock()
	// After the append: either a goroutine that is stopping sees c when it
	// looks again, or this starts one.
	if !w.running.Load() && w.running.CompareAndSwap(false, true) {
		go w.run()
	}
}

// remove lets go of c if the watch still holds it. c.mu is held.
func (w *callWatch) remove(c *callCtx) {
	sh := w.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.inShard {
		sh.removeLocked(c)
	}
}

func (sh *watchShard) removeLocked(c *callCtx) {
	last := len(sh.calls) - 1
	moved := sh.calls[last]
	sh.calls[c.slot] = moved
	moved.slot = c.slot
	sh.calls[last] = nil
	sh.calls = sh.calls[:last]
	c.inShard = false
}

// run ticks while the watch holds calls. It holds no call's lock while it
// holds a shard's: the calls are sorted under the shard's lock, then each is
// checked or armed under its own.
func (w *callWatch) run() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	var young, old []*callCtx // this goroutine's, reused
	for range t.C {
		young, old = w.sort(young[:0], old[:0])
		if len(young) == 0 && len(old) == 0 {
			w.running.Store(false)
			// A call added before the Store saw running set and
			// started nothing: look again, and go on if one came
			// (unless a new goroutine took over).
			if young, old = w.sort(young, old); (len(young) == 0 && len(old) == 0) ||
				!w.running.CompareAndSwap(false, true) {
				w.handle(young, old) // none, or the new goroutine's to check
				return
			}
		}
		w.handle(young, old)
	}
}

// sort advances the tick and appends to young the calls added since the
// tick before, and to old, taking them out of the watch, those that have
// lived through a whole tick since.
func (w *callWatch) sort(young, old []*callCtx) ([]*callCtx, []*callCtx) {
	tick := w.ticks.Add(1)
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for j := 0; j < len(sh.calls); {
			c := sh.calls[j]
			if c.born+2 <= tick {
				old = append(old, c)
				sh.removeLocked(c) // moves the last call into slot j
				continue
			}
			young = append(young, c)
			j++
		}
		sh.mu.Unlock()
	}
	return young, old
}

func (w *callWatch) handle(young, old []*callCtx) {
	for _, c := range young {
		c.poll()
	}
	for _, c := range old {
		c.arm()
	}
	clear(young) // hold no ended call until the next tick
	clear(old)
}
