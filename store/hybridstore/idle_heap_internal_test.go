package hybridstore

import (
	"testing"

	"github.com/tether-go/tether/store/memstore"
)

// An idle Store is a few objects, not one per stripe: the collector marks
// every object of the heap on each cycle, in a process that may do nothing
// but serve cached reads.
func TestNewAllocatesNoPerStripeMaps(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	allocs := testing.AllocsPerRun(5, func() {
		s := New(mem)
		s.Close()
	})
	if allocs > numStripes/4 {
		t.Fatalf("New allocates %v objects, with %d stripes", allocs, numStripes)
	}
}
