package session

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// Before its deadline a call's context is live; after it, it has ended with
// DeadlineExceeded and the store deadline as its cause, whether or not
// anyone armed Done.
func TestCallCtxDeadlineWithoutDone(t *testing.T) {
	c := newCallCtx(&callWatch{}, context.Background(), time.Now().Add(20*time.Millisecond))
	if err := c.Err(); err != nil {
		t.Fatalf("Err before the deadline: %v", err)
	}
	time.Sleep(30 * time.Millisecond)
	if err := c.Err(); err != context.DeadlineExceeded {
		t.Fatalf("Err after the deadline: %v", err)
	}
	if callCause(c) != errStoreDeadline {
		t.Fatalf("cause %v", callCause(c))
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done made after the end is not closed")
	}
	if requestEnded(c, context.DeadlineExceeded) {
		t.Fatal("a call that hit its own deadline counts as the request ending")
	}
}

// Done, once asked for, closes at the deadline.
func TestCallCtxDoneClosesAtDeadline(t *testing.T) {
	start := time.Now()
	c := newCallCtx(&callWatch{}, context.Background(), start.Add(20*time.Millisecond))
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed")
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("Done closed before the deadline")
	}
	if c.Err() != context.DeadlineExceeded || callCause(c) != errStoreDeadline {
		t.Fatalf("Err %v, cause %v", c.Err(), callCause(c))
	}
}

// The parent's end ends the call, with the parent's error and cause, armed
// or not; and that counts as the request ending.
func TestCallCtxParentCancel(t *testing.T) {
	cause := errors.New("client went away")
	for _, armed := range []bool{false, true} {
		parent, cancel := context.WithCancelCause(context.Background())
		c := newCallCtx(&callWatch{}, parent, time.Now().Add(time.Hour))
		var done <-chan struct{}
		if armed {
			done = c.Done()
		}
		cancel(cause)
		if armed {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Done did not close when the parent ended")
			}
		}
		if c.Err() != context.Canceled || callCause(c) != cause {
			t.Fatalf("armed %v: Err %v, cause %v", armed, c.Err(), callCause(c))
		}
		if !requestEnded(c, context.Canceled) {
			t.Fatalf("armed %v: the parent's end is not the request ending", armed)
		}
	}
}

// Deadline is the earlier of the parent's and the call's; values pass
// through.
func TestCallCtxDeadlineAndValues(t *testing.T) {
	type key struct{}
	near := time.Now().Add(time.Minute)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), key{}, "v"), near)
	defer cancel()
	if d, ok := newCallCtx(&callWatch{}, parent, near.Add(time.Hour)).Deadline(); !ok || !d.Equal(near) {
		t.Fatalf("Deadline %v %v, want the parent's %v", d, ok, near)
	}
	far := time.Now().Add(time.Second)
	c := newCallCtx(&callWatch{}, parent, far)
	if d, _ := c.Deadline(); !d.Equal(far) {
		t.Fatalf("Deadline %v, want %v", d, far)
	}
	if c.Value(key{}) != "v" {
		t.Fatal("value lost")
	}
}

// A context a store derives from the call's ends with it, through
// AfterFunc, and cancel ends the call as a CancelFunc would; no goroutine
// is left waiting.
func TestCallCtxDerivedAndCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	c := newCallCtx(&callWatch{}, context.Background(), time.Now().Add(time.Hour))
	child, stop := context.WithTimeout(c, time.Hour)
	defer stop()
	c.cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the derived context did not end with the call")
	}
	if c.Err() != context.Canceled || child.Err() != context.Canceled {
		t.Fatalf("Err %v, child %v", c.Err(), child.Err())
	}
	// A function registered after the end runs at once; stop reports it ran.
	ran := make(chan struct{})
	if c.AfterFunc(func() { close(ran) })() {
		t.Fatal("stop after the end reported stopping it")
	}
	<-ran
	// The timer and the parent's watch are released.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines, %d before", n, before)
	}
}

// A function stopped before the end never runs.
func TestCallCtxAfterFuncStop(t *testing.T) {
	c := newCallCtx(&callWatch{}, context.Background(), time.Now().Add(time.Hour))
	ran := make(chan struct{}, 1)
	stop := c.AfterFunc(func() { ran <- struct{}{} })
	if !stop() {
		t.Fatal("stop before the end did not report stopping it")
	}
	c.cancel()
	select {
	case <-ran:
		t.Fatal("a stopped function ran")
	case <-time.After(20 * time.Millisecond):
	}
}

// A memory-store call allocates only its context: no timer, no channel.
func TestCallCtxAllocatesOnce(t *testing.T) {
	ctx := context.Background()
	var w callWatch
	allocs := testing.AllocsPerRun(100, func() {
		c := newCallCtx(&w, ctx, time.Now().Add(time.Second))
		if c.Err() != nil {
			t.Fatal("ended")
		}
		c.cancel()
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per call, want 1", allocs)
	}
}

// Done asked for the first time after the context ended, by its deadline or
// its parent, with no Err before it, returns a closed channel (it used to
// close it twice: a panic in the store call of a request whose client had
// gone, or whose budget ran out as the call began).
func TestCallCtxFirstDoneAfterTheEnd(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, c := range map[string]*callCtx{
		"deadline": newCallCtx(&callWatch{}, context.Background(), time.Now().Add(-time.Millisecond)),
		"parent":   newCallCtx(&callWatch{}, canceled, time.Now().Add(time.Hour)),
	} {
		select {
		case <-c.Done():
		default:
			t.Errorf("%s: Done is open after the end", name)
		}
		if c.Err() == nil {
			t.Errorf("%s: Err nil after the end", name)
		}
		c.cancel()
	}
}
