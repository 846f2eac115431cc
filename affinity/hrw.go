package affinity

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// Rendezvous (highest-random-weight) hashing: every peer gets a score for a
// key, the highest score owns it, and the order of scores is the order of
// fallbacks. A peer that joins takes from each other peer only the keys it
// now scores highest on, about 1/N of all; a peer that leaves hands each of
// its keys to the key's second choice. No peer's score depends on the other
// peers, so nodes that see the same peers agree without talking.
//
// The score is the first 8 bytes of SHA-256(peer, 0, key): uniform, and not
// steerable by a client that picks its own key any better than by trying
// keys until one lands where it wants, which gains it nothing.

// score is peer's weight for key.
func score(peer, key string) uint64 {
	var buf [128]byte
	b := append(buf[:0], peer...)
	b = append(b, 0)
	b = append(b, key...)
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// ranked is a peer and its score for one key.
type ranked struct {
	peer  string
	score uint64
}

// rank returns peers in the key's preference order, owner first. Ties (which
// SHA-256 makes practically impossible) break by address, so every node
// orders alike.
func rank(peers []string, key string) []ranked {
	out := make([]ranked, len(peers))
	for i, p := range peers {
		out[i] = ranked{p, score(p, key)}
	}
	slices.SortFunc(out, func(a, b ranked) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		case a.peer < b.peer:
			return -1
		case a.peer > b.peer:
			return 1
		}
		return 0
	})
	return out
}

// owner returns the peer that owns key: rank's first, without the sort.
func owner(peers []string, key string) string {
	var best string
	var bestScore uint64
	for i, p := range peers {
		s := score(p, key)
		if i == 0 || s > bestScore || (s == bestScore && p < best) {
			best, bestScore = p, s
		}
	}
	return best
}
