package session

import (
	"sync"
	"time"
)

// watchTick is how often a callWatch checks the calls it holds: how late,
// at most (and the scheduler's delay), Done closes after a store call's
// deadline passed or its parent ended. Err is exact: it reads the clock.
const watchTick = time.Millisecond

// A callWatch closes the Done channels of a Manager's store calls once their
// deadline passes or their parent ends. One goroutine checks every call that
// asked for Done, each watchTick, and runs only while there is one.
//
// A runtime timer per call (and a watch on its parent), as
// context.WithDeadline arms, is what this replaces. go-redis asks for Done
// on every command (a check without waiting before it takes a pooled
// connection), so every Redis call armed and stopped a timer and registered
// with the request's context: strace counted half a nanosleep (the
// scheduler spinning) and 0.1 futex more per Redis read, and the process
// spent a few µs more CPU per read, a large share of what the session
// library adds to a bare GET. One watch costs a wake-up per tick while calls
// are in flight, however many.
type callWatch struct {
	mu      sync.Mutex
	calls   []*callCtx // armed calls; each knows its slot
	running bool       // the goroutine runs
	snap    []*callCtx // the goroutine's copy of calls, reused
}

// add watches c. c.mu is held (it orders before w.mu).
func (w *callWatch) add(c *callCtx) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c.slot = len(w.calls)
	w.calls = append(w.calls, c)
	if !w.running {
		w.running = true
		go w.run()
	}
}

// remove stops watching c. c.mu is held.
func (w *callWatch) remove(c *callCtx) {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := len(w.calls) - 1
	moved := w.calls[last]
	w.calls[c.slot] = moved
	moved.slot = c.slot
	w.calls[last] = nil
	w.calls = w.calls[:last]
}

// run polls the watched calls every tick, and returns when there are none.
// It holds no call's lock while it holds w.mu: the calls are copied first,
// then each is checked under its own lock, as Err would.
func (w *callWatch) run() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	for range t.C {
		w.mu.Lock()
		if len(w.calls) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		snap := append(w.snap[:0], w.calls...)
		w.mu.Unlock()
		for _, c := range snap {
			c.poll()
		}
		clear(snap) // hold no ended call until the next tick
		w.snap = snap
	}
}
