package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Store calls armed, derived from, nested and ended from
// many goroutines at once, while the watch starts and stops, with parents
// (a request, a call of another Manager, a write's WithoutCancel) canceled
// concurrently. Every call that must end has Done closed, Err and the cause
// agree with Done, derived contexts and AfterFuncs follow, nothing closes
// twice, and the watch and every goroutine stop at the end (stressWatch).
func TestWatchConcurrentStress(t *testing.T) {
	stressWatch(t, 8, 400*time.Millisecond, 1, func(rng *rand.Rand, w, other *callWatch) error {
		req, cancelReq := context.WithCancelCause(context.Background())
		defer cancelReq(nil)
		parent, outer := randomParent(rng, req, other, 4)
		if outer != nil {
			defer outer.cancel()
		}
		own := time.Duration(rng.IntN(4)) * time.Millisecond
		c := newCallCtx(w, parent, time.Now().Add(own))
		defer c.cancel()
		var child context.Context = c
		var ran chan struct{}
		switch rng.IntN(3) {
		case 0:
			var stop context.CancelFunc
			child, stop = context.WithTimeout(c, time.Hour)
			defer stop()
		case 1:
			ran = make(chan struct{})
			context.AfterFunc(c, func() { close(ran) })
		}
		if rng.IntN(2) == 0 {
			go cancelReq(errors.New("client went away"))
		}
		if rng.IntN(3) == 0 {
			c.Err()
		}
		select {
		case <-child.Done():
		case <-time.After(2 * time.Second):
			return errors.New("Done not closed 2 s after the deadline")
		}
		if c.Err() == nil {
			return errors.New("Done closed, Err nil")
		}
		select {
		case <-c.Done():
		default:
			return errors.New("Err set, Done open")
		}
		if c.Err() == context.DeadlineExceeded && callCause(c) == nil {
			return errors.New("no cause")
		}
		c.cancel()
		c.cancel()
		c.Done()
		if ran != nil {
			select {
			case <-ran:
			case <-time.After(2 * time.Second):
				return errors.New("context.AfterFunc never ran")
			}
		}
		return nil
	})
}

// stressWatch runs one from n goroutines for d, each with its own random
// source, against two watches (w, and other for the calls' parents); then
// both must stop, with every goroutine they started, and stay still.
func stressWatch(t *testing.T, n int, d time.Duration, seed uint64, one func(rng *rand.Rand, w, other *callWatch) error) {
	t.Helper()
	before := runtime.NumGoroutine()
	var w, other callWatch
	stopAt := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), seed))
			for i := 0; time.Now().Before(stopAt); i++ {
				if err := one(rng, &w, &other); err != nil {
					t.Errorf("goroutine %d, call %d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitStopped(t, &w)
	waitStopped(t, &other)
	waitGoroutines(t, before)
	t0, o0 := w.ticks.Load(), other.ticks.Load()
	time.Sleep(20 * watchTick)
	if w.ticks.Load() != t0 || other.ticks.Load() != o0 {
		t.Fatal("a watch ticks with no call in flight")
	}
}

// randomParent picks a store call's parent for the stress tests: the
// request itself, its WithoutCancel (a write's), or a call of another
// watch with a deadline up to maxMs milliseconds away (returned as outer,
// for the caller to end).
func randomParent(rng *rand.Rand, req context.Context, other *callWatch, maxMs int) (parent context.Context, outer *callCtx) {
	switch rng.IntN(4) {
	case 1:
		return context.WithoutCancel(req), nil
	case 2:
		outer = newCallCtx(other, req, time.Now().Add(time.Duration(rng.IntN(maxMs))*time.Millisecond))
		return outer, outer
	}
	return req, nil
}
