package session

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// watchTick is how often a callWatch checks the calls it holds: how late,
// at most (and the scheduler's delay), Done closes after a store call's
// deadline passed or its parent ended. Err is exact: it reads the clock.
const watchTick = time.Millisecond

// watchShards spreads the calls over locks, so that store calls running on
// many cores at once do not all take one.
const watchShards = 16

// A callWatch closes the Done channels of a Manager's store calls once their
// deadline passes or their parent ends. One goroutine checks every call that
// asked for Done, each watchTick, and runs only while there is one.
//
// A runtime timer per call (and a watch on its parent), as
// context.WithDeadline arms, is what this replaces. go-redis asks for Done
// on every command (a check without waiting, before it takes a pooled
// connection), so every Redis call armed and stopped a timer and registered
// with the request's context: in process, that was most of the CPU the
// session library added to a bare Redis GET (BenchmarkOverhead/read,
// tether-redis against limit-redis: 7.7–8.9 µs added with a timer per call,
// 2.3–3.0 µs with the watch, medians of 8 rounds). One watch costs a wake-up
// per tick while calls are in flight, however many.
type callWatch struct {
	shards  [watchShards]watchShard
	running atomic.Bool // the goroutine runs (or is about to)
}

type watchShard struct {
	mu    sync.Mutex
	calls []*callCtx // armed calls; each knows its slot
	_     [40]byte   // a cache line each
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
	c.slot = len(sh.calls)
	sh.calls = append(sh.calls, c)
	sh.mu.Unlock()
	// After the append: either a goroutine that is stopping sees c when it
	// looks again, or this starts one.
	if !w.running.Load() && w.running.CompareAndSwap(false, true) {
		go w.run()
	}
}

// remove stops watching c. c.mu is held.
func (w *callWatch) remove(c *callCtx) {
	sh := w.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	last := len(sh.calls) - 1
	moved := sh.calls[last]
	sh.calls[c.slot] = moved
	moved.slot = c.slot
	sh.calls[last] = nil
	sh.calls = sh.calls[:last]
}

// run polls the watched calls every tick, and returns when there are none.
// It holds no call's lock while it holds a shard's: the calls are copied
// first, then each is checked under its own lock, as Err would.
func (w *callWatch) run() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	var snap []*callCtx // this goroutine's copy of the calls, reused
	for range t.C {
		if snap = w.collect(snap[:0]); len(snap) == 0 {
			w.running.Store(false)
			// A call added before the Store saw running set and
			// started nothing: look again, and go on if one came
			// (unless a new goroutine took over).
			if snap = w.collect(snap); len(snap) == 0 || !w.running.CompareAndSwap(false, true) {
				return
			}
		}
		for _, c := range snap {
			c.poll()
		}
		clear(snap) // hold no ended call until the next tick
	}
}

// collect appends the watched calls to snap.
func (w *callWatch) collect(snap []*callCtx) []*callCtx {
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		snap = append(snap, sh.calls...)
		sh.mu.Unlock()
	}
	return snap
}
