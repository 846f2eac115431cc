package chore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/chore"
)

// counter is a job that counts its runs and can be held inside one.
type counter struct {
	runs atomic.Int32
	hold chan struct{} // nil: return at once
	in   chan struct{} // receives when a run begins, if not nil
}

func (c *counter) job() {
	c.runs.Add(1)
	if c.in != nil {
		c.in <- struct{}{}
	}
	if c.hold != nil {
		<-c.hold
	}
}

func (c *counter) wait(t *testing.T, want int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.runs.Load() != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runs = %d, want %d", c.runs.Load(), want)
		}
	}
}

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func TestPokeRunsOncePerInterval(t *testing.T) {
	defer goleak.VerifyNone(t)
	var n counter
	c := chore.New(time.Minute, t0, n.job)
	defer c.Close()
	c.Poke(t0.Add(-time.Second)) // not due yet
	c.Poke(t0)
	n.wait(t, 1)
	c.Poke(t0.Add(59 * time.Second))
	c.Close() // waits for anything started
	if got := n.runs.Load(); got != 1 {
		t.Fatalf("runs = %d after a poke within the interval, want 1", got)
	}
}

func TestPokeAfterInterval(t *testing.T) {
	var n counter
	c := chore.New(time.Minute, t0, n.job)
	defer c.Close()
	c.Poke(t0)
	n.wait(t, 1)
	n.pokeUntil(t, c, t0.Add(time.Minute), 2)
}

// Many calls finding the job due at once start it once.
func TestConcurrentPokesStartOnce(t *testing.T) {
	n := counter{hold: make(chan struct{})}
	c := chore.New(time.Minute, t0, n.job)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Poke(t0) }()
	}
	wg.Wait()
	close(n.hold)
	c.Close()
	if got := n.runs.Load(); got != 1 {
		t.Fatalf("runs = %d, want 1", got)
	}
}

// A poke due while the job still runs starts no second one.
func TestNoOverlap(t *testing.T) {
	n := counter{hold: make(chan struct{}), in: make(chan struct{}, 2)}
	c := chore.New(time.Minute, t0, n.job)
	c.Poke(t0)
	<-n.in
	c.Start(t0.Add(time.Hour))
	c.Poke(t0.Add(time.Hour))
	close(n.hold)
	c.Close()
	if got := n.runs.Load(); got != 1 {
		t.Fatalf("runs = %d, want 1", got)
	}
}

// A clock set back by more than the interval does not stop the job until
// it catches up; one set back by less does not make it due.
func TestClockBack(t *testing.T) {
	var n counter
	c := chore.New(time.Minute, t0, n.job)
	defer c.Close()
	c.Poke(t0)
	n.wait(t, 1)
	c.Poke(t0.Add(-30 * time.Second))
	time.Sleep(10 * time.Millisecond)
	if got := n.runs.Load(); got != 1 {
		t.Fatalf("runs = %d after the clock went back 30 s, want 1", got)
	}
	n.pokeUntil(t, c, t0.Add(-2*time.Hour), 2)
	c.Poke(t0.Add(-2*time.Hour + 30*time.Second))
	n.pokeUntil(t, c, t0.Add(-2*time.Hour+time.Minute), 3)
}

// pokeUntil pokes c at now until the job has run want times. counter counts
// a run as it begins, and a poke while the job still runs (or before its
// claim is released) starts nothing, so one poke after wait can miss a job
// that is due: TestClockBack failed that way in CI, "runs = 2, want 3".
func (c *counter) pokeUntil(t *testing.T, ch *chore.Chore, now time.Time, want int32) {
	t.Helper()
	c.until(t, want, func() { ch.Poke(now) })
}

// until calls do until the job has run want times, and fails if it runs
// more or not within 5 seconds.
func (c *counter) until(t *testing.T, want int32, do func()) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.runs.Load() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runs = %d, want %d", c.runs.Load(), want)
		}
		do()
	}
	if got := c.runs.Load(); got != want {
		t.Fatalf("runs = %d, want %d", got, want)
	}
}

func TestStartRunsAtOnce(t *testing.T) {
	var n counter
	c := chore.New(time.Minute, t0, n.job)
	defer c.Close()
	c.Start(t0)
	n.wait(t, 1)
	n.until(t, 2, func() { c.Start(t0) }) // not due, started anyway (once the first has ended)
	c.Poke(t0.Add(time.Second))           // the last start counts
	time.Sleep(10 * time.Millisecond)
	if got := n.runs.Load(); got != 2 {
		t.Fatalf("runs = %d, want 2", got)
	}
}

// Close waits for a running job, and nothing runs after it.
func TestCloseWaits(t *testing.T) {
	defer goleak.VerifyNone(t)
	n := counter{hold: make(chan struct{}), in: make(chan struct{}, 1)}
	c := chore.New(time.Minute, t0, n.job)
	c.Poke(t0)
	<-n.in
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the job ran")
	case <-time.After(20 * time.Millisecond):
	}
	close(n.hold)
	<-closed
	c.Start(t0.Add(time.Hour))
	c.Poke(t0.Add(time.Hour))
	c.Close()
	if got := n.runs.Load(); got != 1 {
		t.Fatalf("runs = %d after Close, want 1", got)
	}
}

// A claim its caller could not finish, handed back with Again, is due at
// once for the next call.
func TestAgainMakesItDue(t *testing.T) {
	c := chore.New(time.Minute, t0, func() {})
	defer c.Close()
	done, ok := c.Claim(t0)
	if !ok {
		t.Fatal("not due at first")
	}
	c.Again()
	if _, ok := c.Claim(t0.Add(time.Second)); ok {
		t.Fatal("claimed while the first claim runs")
	}
	done()
	done, ok = c.Claim(t0.Add(time.Second))
	if !ok {
		t.Fatal("not due after Again")
	}
	done()
}
