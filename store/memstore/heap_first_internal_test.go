package memstore

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// expiryHeap.first against a brute-force scan over random heaps (a
// review's test): the least expiry of the entries other
// than the spared one while it is live.
func TestHeapFirstMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200000; iter++ {
		var h expiryHeap
		n := r.IntN(8)
		for i := 0; i < n; i++ {
			h.push(&entry{id: strconv.Itoa(i), expires: int64(r.IntN(6))})
		}
		// random fixes/removals to shuffle positions
		for k := 0; k < r.IntN(4) && len(h) > 0; k++ {
			i := r.IntN(len(h))
			if r.IntN(2) == 0 {
				h.remove(i)
			} else {
				h[i].expires = int64(r.IntN(6))
				h.fix(i)
			}
		}
		spare := strconv.Itoa(r.IntN(9))
		at := int64(r.IntN(6))
		got := h.first(spare, at)
		var want *entry
		for _, e := range h {
			if e.id == spare && at < e.expires {
				continue
			}
			if want == nil || e.expires < want.expires {
				want = e
			}
		}
		if (got == nil) != (want == nil) || (got != nil && got.expires != want.expires) || (got != nil && got.id == spare && at < got.expires) {
			t.Fatalf("first(%q,%d) on %v = %v, want expiry of %v", spare, at, h, got, want)
		}
	}
}
