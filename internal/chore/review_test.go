package chore_test

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/chore"
)

// An interval so long that start's t + every overflows int64 ("sweep
// practically never", e.g. WithCleanupInterval(math.MaxInt64), which the old
// time.NewTicker accepted and never fired): next wraps negative, so every
// later Poke finds the job due and it runs on every call, not at most once
// per interval.
func TestHugeIntervalRunsOncePerInterval(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		var n counter
		c := chore.New(d, t0, n.job)
		c.Poke(t0)
		n.wait(t, 1)
		for i := range 5 {
			c.Poke(t0.Add(time.Duration(i+1) * time.Second))
			time.Sleep(5 * time.Millisecond)
		}
		c.Close()
		if got := n.runs.Load(); got != 1 {
			t.Errorf("interval %v: runs = %d after pokes 1..5 s after the first run, want 1", d, got)
		}
	}
}

func TestPokeStartCloseRace(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // not the deadlocked job of the test above
	for iter := range 200 {
		var runs, afterClose atomic.Int32
		var closedFlag atomic.Bool
		c := chore.New(time.Millisecond, t0, func() {
			runs.Add(1)
			if closedFlag.Load() {
				afterClose.Add(1)
			}
		})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					now := t0.Add(time.Duration(i) * time.Millisecond)
					if i%7 == 0 {
						now = t0.Add(-time.Hour) // jump back
					}
					if (g+i)%3 == 0 {
						c.Start(now)
					} else {
						c.Poke(now)
					}
				}
			}()
		}
		time.Sleep(time.Duration(iter%3) * 100 * time.Microsecond)
		c.Close()
		closedFlag.Store(true)
		time.Sleep(200 * time.Microsecond)
		close(stop)
		wg.Wait()
		c.Close()
		if n := afterClose.Load(); n != 0 {
			t.Fatalf("iter %d: %d runs started after Close returned", iter, n)
		}
	}
}

// A clock jump far forward runs the job once, and the clock coming back
// (NTP fix) does not stall it for the length of the jump.
func TestClockForwardThenBack(t *testing.T) {
	var n counter
	c := chore.New(time.Minute, t0, n.job)
	defer c.Close()
	c.Poke(t0.Add(24 * 365 * time.Hour))
	n.wait(t, 1)
	n.pokeUntil(t, c, t0.Add(time.Hour), 2)
	c.Poke(t0.Add(time.Hour + 30*time.Second))
	time.Sleep(10 * time.Millisecond)
	if got := n.runs.Load(); got != 2 {
		t.Fatalf("runs = %d, want 2", got)
	}
}

// The zero time (a clock func returning time.Time{}, year 1) has no
// defined UnixNano; pokes with it must not run the job on every call.
func TestZeroTimeClock(t *testing.T) {
	var n counter
	var zero time.Time
	c := chore.New(time.Minute, zero.Add(time.Minute), n.job)
	for range 5 {
		c.Poke(zero)
		time.Sleep(2 * time.Millisecond)
	}
	c.Close()
	if got := n.runs.Load(); got > 1 {
		t.Errorf("runs = %d for 5 pokes at a standing clock, want at most 1", got)
	}
}
