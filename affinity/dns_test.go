package affinity_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/affinity"
)

// dnsAnswers is a Resolver whose answer the test changes.
type dnsAnswers struct {
	mu    sync.Mutex
	addrs []string
	err   error
	calls int
}

func (d *dnsAnswers) LookupHost(context.Context, string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return d.addrs, d.err
}

func (d *dnsAnswers) set(err error, addrs ...string) {
	d.mu.Lock()
	d.addrs, d.err = addrs, err
	d.mu.Unlock()
}

func (d *dnsAnswers) callCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

func waitPeers(t *testing.T, rt *affinity.Router, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(rt.Peers(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("peers %v, want %v", rt.Peers(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPeerDNS: the name is resolved again periodically; pods that join or
// leave change the peers; a failed lookup keeps the last set; this node is
// always a peer, listed or not; Close stops the lookups.
func TestPeerDNS(t *testing.T) {
	dns := &dnsAnswers{}
	dns.set(errors.New("no such host")) // the first pod of a Deployment: no endpoints yet
	rt, err := affinity.New(context.Background(), affinity.WithPeerDNS("app-peers", 8080),
		affinity.WithSelf("10.0.0.1:8080"), affinity.WithResolver(dns), affinity.WithResolveEvery(10*time.Millisecond))
	if err != nil {
		t.Fatalf("New must not fail on a failed first lookup: %v", err)
	}
	waitPeers(t, rt, "10.0.0.1:8080")
	dns.set(nil, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	waitPeers(t, rt, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080")
	dns.set(errors.New("timeout"))
	time.Sleep(50 * time.Millisecond)
	waitPeers(t, rt, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080")
	dns.set(nil, "10.0.0.3", "10.0.0.4")
	waitPeers(t, rt, "10.0.0.1:8080", "10.0.0.3:8080", "10.0.0.4:8080")
	rt.Close()
	n := dns.callCount()
	time.Sleep(50 * time.Millisecond)
	if dns.callCount() != n {
		t.Fatal("lookups went on after Close")
	}
	rt.Close() // idempotent
}

// TestPeerDNSRealResolver resolves localhost with the system resolver: the
// peers are its addresses with the given port.
func TestPeerDNSRealResolver(t *testing.T) {
	const port = 18080
	rt, err := affinity.New(context.Background(), affinity.WithPeerDNS("localhost", port), affinity.WithSelf("10.0.0.1:18080"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if want := "127.0.0.1:" + strconv.Itoa(port); !slices.Contains(rt.Peers(), want) || !slices.Contains(rt.Peers(), rt.Self()) {
		t.Fatalf("peers %v, want %s and self among them", rt.Peers(), want)
	}
}
