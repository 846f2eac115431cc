package versionstep

import "testing"

// Steps stay in [1, Max] and are not all one value: two writes from one
// version after a lost write must rarely get the same version.
func TestNext(t *testing.T) {
	seen := map[uint64]bool{}
	for range 10_000 {
		n := Next()
		if n < 1 || n > Max {
			t.Fatalf("step %d outside [1, %d]", n, Max)
		}
		seen[n] = true
	}
	if len(seen) < 9_900 {
		t.Errorf("10,000 steps took %d values; want nearly all distinct", len(seen))
	}
}
