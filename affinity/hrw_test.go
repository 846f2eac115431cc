package affinity

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func peerNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.0.%d:8080", i+1)
	}
	return out
}

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("key-%06d", i)
	}
	return out
}

// TestRebalanceMovesOneNth: a peer joining takes about 1/N of the keys, all
// from the others, and no key moves between two peers that stayed; a peer
// leaving hands over exactly its own keys. Over 10k keys.
func TestRebalanceMovesOneNth(t *testing.T) {
	ks := keys(10000)
	for _, tc := range []struct{ from, to int }{{3, 4}, {4, 3}, {4, 5}, {5, 4}, {2, 3}} {
		before, after := peerNames(tc.from), peerNames(tc.to)
		changed := after[len(after)-1] // the peer that joins
		if tc.to < tc.from {
			changed = before[len(before)-1] // the peer that leaves
		}
		moved := 0
		for _, k := range ks {
			a, b := owner(before, k), owner(after, k)
			if a == b {
				continue
			}
			moved++
			if a != changed && b != changed {
				t.Fatalf("%d→%d peers: key %s moved from %s to %s, neither of which changed", tc.from, tc.to, k, a, b)
			}
		}
		ideal := len(ks) / max(tc.from, tc.to)
		t.Logf("%d→%d peers: %d of %d keys moved (ideal %d, %.1f%%)", tc.from, tc.to, moved, len(ks), ideal, 100*float64(moved)/float64(ideal))
		if math.Abs(float64(moved-ideal)) > 0.1*float64(ideal) {
			t.Errorf("%d→%d peers: %d keys moved, want %d ± 10%%", tc.from, tc.to, moved, ideal)
		}
	}
}

// TestBalance: each of N peers owns about 1/N of the keys.
func TestBalance(t *testing.T) {
	ks := keys(10000)
	for _, n := range []int{2, 3, 5} {
		peers := peerNames(n)
		count := map[string]int{}
		for _, k := range ks {
			count[owner(peers, k)]++
		}
		ideal := float64(len(ks)) / float64(n)
		for _, p := range peers {
			if math.Abs(float64(count[p])-ideal) > 0.1*ideal {
				t.Errorf("%d peers: %s owns %d keys, want %.0f ± 10%%", n, p, count[p], ideal)
			}
		}
	}
}

// TestRankAgreesWithOwner: rank's first is owner, the order is by score,
// and the order does not depend on the order of the peer list, so nodes
// that list peers differently still agree.
func TestRankAgreesWithOwner(t *testing.T) {
	peers := peerNames(5)
	rev := slices.Clone(peers)
	slices.Reverse(rev)
	for _, k := range keys(500) {
		r := rank(peers, k)
		if r[0].peer != owner(peers, k) || owner(rev, k) != r[0].peer {
			t.Fatalf("key %s: rank first %s, owner %s, owner of reversed list %s", k, r[0].peer, owner(peers, k), owner(rev, k))
		}
		for i := 1; i < len(r); i++ {
			if r[i].score > r[i-1].score {
				t.Fatalf("key %s: rank not by descending score: %v", k, r)
			}
		}
		r2 := rank(rev, k)
		for i := range r {
			if r[i].peer != r2[i].peer {
				t.Fatalf("key %s: order depends on the list's order: %v vs %v", k, r, r2)
			}
		}
	}
}

// TestFallbackSpreads: the keys of a lost peer spread over the others
// rather than all landing on one.
func TestFallbackSpreads(t *testing.T) {
	peers := peerNames(4)
	lost := peers[0]
	count := map[string]int{}
	total := 0
	for _, k := range keys(10000) {
		r := rank(peers, k)
		if r[0].peer == lost {
			count[r[1].peer]++
			total++
		}
	}
	for _, p := range peers[1:] {
		if share := float64(count[p]) / float64(total); share < 0.25 || share > 0.42 {
			t.Errorf("%s takes %.0f%% of the lost peer's keys, want about a third", p, 100*share)
		}
	}
}

func BenchmarkOwner(b *testing.B) {
	peers := peerNames(3)
	for b.Loop() {
		owner(peers, "AAAAAAAAAAAAAAAAAAAAAA")
	}
}
