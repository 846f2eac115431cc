package affinity_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/affinity"
)

// TestOneProbeAtATime: with local sessions, when a down owner's backoff
// has passed, concurrent requests of its users send one probe to it; the
// others are held (503) until the probe's answer brings the owner back.
func TestOneProbeAtATime(t *testing.T) {
	clk := newClock()
	rec := &recorder{}
	nodes := newCluster(t, 2, affinity.WithClock(clk.Now), affinity.WithObserver(rec), affinity.WithLocalSessions(time.Minute))
	entered, release := make(chan struct{}, 16), make(chan struct{})
	var reached atomic.Int64
	nodes[1].inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		entered <- struct{}{}
		<-release
		w.Header().Set("X-Node", "owner")
	})
	for _, nd := range nodes {
		nd.start(t)
	}
	key := keyOwnedBy(t, nodes, 1)
	nodes[1].kill()
	if res := get(t, nodes[0].addr, key); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("owner down: status %d", res.StatusCode)
	}
	nodes[1].start(t)
	clk.Add(affinity.MinBackoff)
	var wg sync.WaitGroup
	codes := make(chan int, 10)
	// The probe first, then the others while it is under way.
	wg.Go(func() { codes <- get(t, nodes[0].addr, key).StatusCode })
	<-entered
	for range 9 {
		wg.Go(func() { codes <- get(t, nodes[0].addr, key).StatusCode })
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if reached.Load() != 1 || count[200] != 1 || count[http.StatusServiceUnavailable] != 9 {
		t.Fatalf("owner reached %d times, statuses %v: want one probe answered, 9 held", reached.Load(), count)
	}
	if res := get(t, nodes[0].addr, key); res.Header.Get("X-Node") != "owner" {
		t.Fatalf("after the probe: status %d from %q, want the owner", res.StatusCode, res.Header.Get("X-Node"))
	}
}
