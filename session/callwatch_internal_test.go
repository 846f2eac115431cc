package session

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// A watch whose goroutine the test drives by hand: sort and handle are one
// tick.
func manualWatch() *callWatch {
	w := &callWatch{}
	w.running.Store(true) // add starts no goroutine
	return w
}

func (w *callWatch) tick() { w.handle(w.sort(nil, nil)) }

func (w *callWatch) held() []*callCtx {
	var all []*callCtx
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		all = append(all, sh.calls...)
		sh.mu.Unlock()
	}
	return all
}

// Calls that end out of order leave the others in the watch: a call moved
// into an ended one's slot is found there, and its own end removes it, not
// another.
func TestCallWatchSlots(t *testing.T) {
	w := manualWatch()
	calls := sameShard(w, 3, time.Now().Add(time.Hour))
	a, b, c := calls[0], calls[1], calls[2]
	for _, x := range calls {
		x.Done()
	}
	a.cancel() // c moves into a's slot
	sh := w.shard(a)
	if len(sh.calls) != 2 || sh.calls[0] != c || c.slot != 0 || sh.calls[1] != b || b.slot != 1 {
		t.Fatalf("after the first call's end the shard holds %d calls, slots %d %d", len(sh.calls), c.slot, b.slot)
	}
	c.cancel()
	if len(sh.calls) != 1 || sh.calls[0] != b || b.slot != 0 {
		t.Fatal("the moved call's end removed another")
	}
	b.cancel()
	if len(w.held()) != 0 {
		t.Fatal("ended calls left in the watch")
	}
}

// A young call is checked at each tick; one that lived through a whole tick
// is armed (a timer, the parent's watch) and let go, so that the watch's
// work per tick does not grow with the calls that wait.
func TestCallWatchYoungCheckedOldArmed(t *testing.T) {
	w := manualWatch()
	parent, cancel := context.WithCancel(context.Background())
	young := newCallCtx(w, parent, time.Now().Add(time.Hour))
	young.Done()
	w.tick()
	if young.Err() != nil || len(w.held()) != 1 {
		t.Fatal("a young call ended or left the watch at its first tick")
	}
	w.tick()
	if len(w.held()) != 0 {
		t.Fatal("a call that lived through a tick is still in the watch")
	}
	young.mu.Lock()
	armed := young.timer != nil && young.stop != nil
	young.mu.Unlock()
	if !armed {
		t.Fatal("a call let go by the watch has no timer or parent watch")
	}
	cancel() // now the parent's watch ends it, at once
	select {
	case <-young.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an armed call did not end with its parent")
	}

	// A young call whose parent ended is ended by the next tick.
	parent, cancel = context.WithCancel(context.Background())
	c := newCallCtx(w, parent, time.Now().Add(time.Hour))
	c.Done()
	cancel()
	w.tick()
	select {
	case <-c.Done():
	default:
		t.Fatal("a young call was not ended by the tick after its parent ended")
	}
	if len(w.held()) != 0 {
		t.Fatal("an ended call left in the watch")
	}
}

// Thousands of calls waiting (a pool exhausted under overload) leave the
// watch's goroutine stopped: each was armed once, and still ends at its
// deadline.
func TestCallWatchWaitingCallsLeaveIt(t *testing.T) {
	var w callWatch
	before := runtime.NumGoroutine()
	calls := make([]*callCtx, 5000)
	for i := range calls {
		calls[i] = newCallCtx(&w, context.Background(), time.Now().Add(time.Hour))
		calls[i].Done()
	}
	waitStopped(t, &w)
	if n := len(w.held()); n != 0 {
		t.Fatalf("the watch holds %d waiting calls", n)
	}
	short := newCallCtx(&w, context.Background(), time.Now().Add(30*time.Millisecond))
	short.Done()
	waitStopped(t, &w) // armed while it waits
	select {
	case <-short.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an armed call did not end at its deadline")
	}
	if short.Err() != context.DeadlineExceeded || callCause(short) != errStoreDeadline {
		t.Fatalf("Err %v, cause %v", short.Err(), callCause(short))
	}
	for _, c := range calls {
		c.cancel()
	}
	waitGoroutines(t, before)
}

// Calls armed and ended from many goroutines, with the watch stopping and
// starting between them, all have Done closed at their deadline: none is
// added while the goroutine stops and then left unwatched.
func TestCallWatchStartStopRace(t *testing.T) {
	var w callWatch
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				c := newCallCtx(&w, context.Background(), time.Now().Add(time.Duration(i%4)*time.Millisecond))
				select {
				case <-c.Done():
				case <-time.After(5 * time.Second):
					t.Errorf("goroutine %d, call %d: Done never closed", g, i)
					return
				}
				c.cancel()
				if i%50 == 0 {
					time.Sleep(3 * watchTick) // let the watch stop
				}
			}
		})
	}
	wg.Wait()
	waitStopped(t, &w)
	waitGoroutines(t, before)
}

// sameShard returns n calls that share a shard of w, so that they share its
// slots.
func sameShard(w *callWatch, n int, deadline time.Time) []*callCtx {
	by := map[*watchShard][]*callCtx{}
	for {
		c := newCallCtx(w, context.Background(), deadline)
		sh := w.shard(c)
		if by[sh] = append(by[sh], c); len(by[sh]) == n {
			return by[sh]
		}
	}
}

func waitStopped(t *testing.T, w *callWatch) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for w.running.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if w.running.Load() {
		t.Fatal("the watch still runs")
	}
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > want {
		t.Fatalf("%d goroutines, want %d", n, want)
	}
}

// Each shard fills a cache line, and the counters share none with a shard.
func TestCallWatchLayout(t *testing.T) {
	var w callWatch
	if size := unsafe.Sizeof(watchShard{}); size != 64 {
		t.Errorf("a shard is %d bytes, want 64", size)
	}
	if off := unsafe.Offsetof(w.shards); off < 64 {
		t.Errorf("the shards begin at byte %d, in the counters' line", off)
	}
}
