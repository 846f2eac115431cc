package session

import (
	"context"
	"runtime"
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
	waitGoroutines(t, before)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || len(w.calls) != 0 {
		t.Fatalf("running %v with %d calls after all ended", w.running, len(w.calls))
	}
}

// Calls that end out of order leave the others watched: a call moved into
// an ended one's slot still has its Done closed at its deadline, and its own
// end removes it, not another.
func TestCallWatchEndsOutOfOrder(t *testing.T) {
	var w callWatch
	before := runtime.NumGoroutine()
	start := time.Now()
	a := newCallCtx(&w, context.Background(), start.Add(time.Hour))
	b := newCallCtx(&w, context.Background(), start.Add(time.Hour))
	c := newCallCtx(&w, context.Background(), start.Add(30*time.Millisecond))
	for _, x := range []*callCtx{a, b, c} {
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
	w.mu.Lock()
	if len(w.calls) != 1 || w.calls[0] != b || b.slot != 0 {
		t.Fatalf("watching %d calls, want b alone in slot 0", len(w.calls))
	}
	w.mu.Unlock()
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
