package session

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// One goroutine watches every armed call, and only while there is one.
func TestCallWatchOneGoroutineWhileArmed(t *testing.T) {
	var w callWatch
	before := runtime.NumGoroutine()
	calls := make([]*callCtx, 50)
	for i := range calls {
		calls[i] = newCallCtx(&w, context.Background(), time.Now().Add(time.Hour))
		calls[i].Done()
	}
	if n := runtime.NumGoroutine() - before; n != 1 {
		t.Fatalf("%d goroutines for 50 armed calls, want 1", n)
	}
	for _, c := range calls {
		c.cancel()
	}
	waitStopped(t, &w)
	if n := len(w.collect(nil)); n != 0 {
		t.Fatalf("%d calls watched after all ended", n)
	}
	waitGoroutines(t, before)
}

// Calls that end out of order leave the others watched: a call moved into
// an ended one's slot still has its Done closed at its deadline, and its own
// end removes it, not another.
func TestCallWatchEndsOutOfOrder(t *testing.T) {
	var w callWatch
	before := runtime.NumGoroutine()
	start := time.Now()
	calls := sameShard(&w, 3, start.Add(time.Hour))
	a, b, c := calls[0], calls[1], calls[2]
	c.deadline = start.Add(30 * time.Millisecond)
	for _, x := range calls {
		x.Done()
	}
	a.cancel() // c moves into a's slot
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a call moved to another slot was not watched")
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("Done closed before the deadline")
	}
	if c.Err() != context.DeadlineExceeded || callCause(c) != errStoreDeadline {
		t.Fatalf("Err %v, cause %v", c.Err(), callCause(c))
	}
	select {
	case <-b.Done():
		t.Fatal("b ended with the others")
	default:
	}
	if calls := w.collect(nil); len(calls) != 1 || calls[0] != b || b.slot != 0 {
		t.Fatalf("watching %d calls, want b alone in slot 0", len(calls))
	}
	b.cancel()
	waitGoroutines(t, before)
}

// A watch that stopped starts again for the next armed call.
func TestCallWatchRestarts(t *testing.T) {
	var w callWatch
	before := runtime.NumGoroutine()
	for range 3 {
		c := newCallCtx(&w, context.Background(), time.Now().Add(10*time.Millisecond))
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done never closed")
		}
		c.cancel()
		waitGoroutines(t, before)
	}
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
				c := newCallCtx(&w, context.Background(), time.Now().Add(time.Duration(i%3)*time.Millisecond))
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
		t.Fatal("the watch still runs with no call armed")
	}
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > want {
		t.Fatalf("%d goroutines, want %d: the watch did not stop", n, want)
	}
}
