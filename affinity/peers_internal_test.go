package affinity

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestBackoff: the first failure marks a peer down for MinBackoff; failures
// of requests already under way do not lengthen it; each failed probe
// doubles it, up to MaxBackoff; an answer clears it.
func TestBackoff(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ps := newPeerSet("a:1", []string{"b:1", "c:1"}, time.Second)
	boom := errors.New("refused")
	if down, b := ps.fail("b:1", now, boom); !down || b != MinBackoff {
		t.Fatalf("first failure: down %v backoff %v", down, b)
	}
	if down, b := ps.fail("b:1", now.Add(time.Millisecond), boom); down || b != MinBackoff {
		t.Fatalf("failure of a request under way: down %v backoff %v", down, b)
	}
	if usable, since, _ := ps.state("b:1", now.Add(999*time.Millisecond)); usable || !since.Equal(now) {
		t.Fatalf("during backoff: usable %v since %v", usable, since)
	}
	at := now
	want := []time.Duration{2, 4, 8, 16, 30, 30}
	for _, w := range want {
		at = at.Add(MaxBackoff) // past any retryAt
		if usable, _, _ := ps.state("b:1", at); !usable {
			t.Fatal("not probed after its backoff")
		}
		if usable, _, _ := ps.state("b:1", at); usable {
			t.Fatal("two probes at once")
		}
		if _, b := ps.fail("b:1", at, boom); b != w*time.Second {
			t.Fatalf("failed probe: backoff %v, want %v", b, w*time.Second)
		}
	}
	if usable, since, _ := ps.state("b:1", at); usable || !since.Equal(now) {
		t.Fatalf("downSince moved: %v", since)
	}
	// A probe whose outcome never comes (its client left) lets another
	// request try after the probe window.
	at = at.Add(MaxBackoff)
	ps.state("b:1", at)
	if usable, _, _ := ps.state("b:1", at.Add(time.Second)); !usable {
		t.Fatal("no probe after a probe without outcome")
	}
	if !ps.ok("b:1") || ps.ok("b:1") {
		t.Fatal("ok must report the change once")
	}
	if usable, since, _ := ps.state("b:1", at); !usable || !since.IsZero() {
		t.Fatal("still down after an answer")
	}
	if down, _ := ps.fail("z:1", now, boom); down {
		t.Fatal("a peer not in the list was marked down")
	}
}

// TestPeerSetKeepsHealthOfStayingPeers: a DNS change keeps what is known of
// peers that stay and forgets peers that left; self is always listed.
func TestPeerSetKeepsHealthOfStayingPeers(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ps := newPeerSet("a:1", []string{"b:1", "c:1"}, time.Second)
	ps.fail("b:1", now, errors.New("x"))
	ps.fail("c:1", now, errors.New("x"))
	if !ps.set([]string{"b:1", "d:1"}) {
		t.Fatal("set reported no change")
	}
	if ps.set([]string{"d:1", "b:1", "a:1"}) {
		t.Fatal("set reported a change for the same peers")
	}
	if got := ps.peers(); !slices.Equal(got, []string{"a:1", "b:1", "d:1"}) {
		t.Fatalf("peers %v", got)
	}
	if usable, _, _ := ps.state("b:1", now); usable {
		t.Fatal("b forgot it is down")
	}
	ps.set([]string{"b:1", "c:1"})
	if usable, _, _ := ps.state("c:1", now); !usable {
		t.Fatal("c left and came back, still down")
	}
}
