package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// A call the goroutine sorted as old and that ended
// before the goroutine armed it is not armed: no timer, no parent watch
// left running after the end.
func TestCallWatchNoArmAfterEnd(t *testing.T) {
	w := manualWatch()
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCallCtx(w, parent, time.Now().Add(time.Hour))
	c.Done()
	w.tick() // young: checked
	young, old := w.sort(nil, nil)
	if len(young) != 0 || len(old) != 1 || old[0] != c {
		t.Fatalf("second sort: %d young, %d old; want the call old", len(young), len(old))
	}
	c.cancel() // the call ends between the sort and the arm
	w.handle(young, old)
	c.mu.Lock()
	armed := c.timer != nil || c.stop != nil
	c.mu.Unlock()
	if armed {
		t.Fatal("a call that ended before the watch armed it was armed")
	}

	// A call whose deadline passed while it was young ends at the arm,
	// with its own cause, and is not armed either.
	d := newCallCtx(w, parent, time.Now().Add(2*time.Millisecond))
	d.Done()
	w.tick()
	time.Sleep(3 * time.Millisecond)
	w.tick()
	select {
	case <-d.Done():
	default:
		t.Fatal("a call past its deadline at the arm is live")
	}
	d.mu.Lock()
	armed = d.timer != nil || d.stop != nil
	d.mu.Unlock()
	if armed || callCause(d) != errStoreDeadline || len(w.held()) != 0 {
		t.Fatalf("armed %v, cause %v, %d held", armed, callCause(d), len(w.held()))
	}
}

// A call whose parent is another Manager's call, armed, holds that call in
// the other watch only until it ends; ending the child lets go of the
// parent's AfterFunc; the parent's end ends the armed child at once.
func TestCallWatchArmedUnderAnotherWatch(t *testing.T) {
	a, b := manualWatch(), manualWatch()
	outer := newCallCtx(b, context.Background(), time.Now().Add(time.Hour))
	inner := newCallCtx(a, outer, time.Now().Add(time.Hour))
	inner.Done()
	a.tick()
	a.tick() // armed: context.AfterFunc(outer) asks outer for Done
	if len(b.held()) != 1 {
		t.Fatalf("the outer call is not in its watch after the inner was armed (%d held)", len(b.held()))
	}
	inner.mu.Lock()
	armed := inner.timer != nil && inner.stop != nil
	inner.mu.Unlock()
	if !armed {
		t.Fatal("the inner call is not armed")
	}
	outer.cancel()
	select {
	case <-inner.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the outer call's end did not end the armed inner call")
	}
	if inner.Err() != context.Canceled {
		t.Fatalf("inner Err %v", inner.Err())
	}
	if len(a.held())+len(b.held()) != 0 {
		t.Fatal("ended calls left in a watch")
	}
}

// Calls made around the watch's stops and starts, with parents of every
// kind (none, a request canceled at a random moment, a write's
// WithoutCancel, another watch's call), deadlines already past, at once,
// or a few ticks ahead, and Done asked before or after the deadline: Done
// never closes before the call's own deadline unless the parent ended, it
// closes within a bound once either happens, Err agrees with Done, and both
// watches and every goroutine stop at the end, with the tick counters still.
func TestCallWatchNeverEarlyNeverLost(t *testing.T) {
	const bound = time.Second // generous: the race detector on 2 cores
	stressWatch(t, 6, 600*time.Millisecond, 7, func(rng *rand.Rand, w, other *callWatch) error {
		req, cancelReq := context.WithCancelCause(context.Background())
		defer cancelReq(nil)
		parent, outer := randomParent(rng, req, other, 5)
		if outer != nil {
			defer outer.cancel()
		}
		start := time.Now()
		deadline := start.Add(time.Duration(rng.IntN(6)-1) * time.Millisecond)
		c := newCallCtx(w, parent, deadline)
		defer c.cancel()
		var canceledAt time.Time
		var mu sync.Mutex
		if rng.IntN(3) == 0 {
			after := time.Duration(rng.IntN(4000)) * time.Microsecond
			go func() {
				time.Sleep(after)
				mu.Lock()
				canceledAt = time.Now()
				mu.Unlock()
				cancelReq(errors.New("gone"))
			}()
		}
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond) // Done asked late
		}
		var done <-chan struct{}
		if rng.IntN(2) == 0 {
			done = c.Done()
		} else {
			ch := make(chan struct{})
			context.AfterFunc(c, func() { close(ch) })
			done = ch
		}
		select {
		case <-done:
		case <-time.After(10 * time.Millisecond):
			// Possibly a long wait (an hour-long parent, canceled never):
			// only calls that must end are checked for lateness.
			if c.Err() != nil {
				select {
				case <-done:
				case <-time.After(bound):
					return errors.New("Err set but Done/AfterFunc did not follow")
				}
			} else if time.Now().After(deadline.Add(bound)) {
				return errors.New("Done open long after the deadline")
			} else {
				<-done // it must end at its deadline (≤ 4 ms away): the test's timeout catches a hang
			}
		}
		closed := time.Now()
		err := c.Err()
		if err == nil {
			return errors.New("Done closed, Err nil")
		}
		mu.Lock()
		ca := canceledAt
		mu.Unlock()
		parentEnded := !ca.IsZero() || (outer != nil && outer.Err() != nil)
		if closed.Before(deadline) && !parentEnded {
			return errors.New("Done closed before the deadline with the parent live")
		}
		if callCause(c) == errStoreDeadline && closed.Before(deadline) {
			return errors.New("the store deadline as the cause before the deadline")
		}
		if rng.IntN(8) == 0 {
			time.Sleep(time.Duration(1000+rng.IntN(2500)) * time.Microsecond) // around the stop
		}
		return nil
	})
}
