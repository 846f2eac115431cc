package hybridstore

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
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

// decoding is a remote that, like every networked one, decodes a new record
// for every Load instead of handing out one it keeps.
type decoding struct{ store.Store }

func (d decoding) Load(ctx context.Context, id string) (*store.Record, error) {
	rec, err := d.Store.Load(ctx, id)
	if rec == nil || err != nil {
		return rec, err
	}
	c := *rec
	return &c, nil
}

// A cached session costs the collector two and a half objects beyond what
// the remote decoded: the cache's node, the entry, which holds the record by
// value, and a share of the cache's hash table. A record in an object of its
// own was one more (3.5 here), marked on every cycle for as long as the
// session stays cached.
func TestCachedSessionObjects(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	defer mem.Close()
	s := New(decoding{mem})
	defer s.Close()
	const n = 4000
	ids := make([]string, n)
	now := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("%064d", i)
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"k": []byte("v")}}
		if _, err := mem.Commit(ctx, ids[i], c); err != nil {
			t.Fatal(err)
		}
	}
	objects := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapObjects
	}
	before := objects()
	for _, id := range ids {
		if rec, err := s.Load(ctx, id); rec == nil || err != nil {
			t.Fatalf("Load(%s) = %v, %v", id, rec, err)
		}
	}
	if cached := s.Stats().Entries; cached < n*9/10 {
		t.Fatalf("%d of %d sessions cached", cached, n)
	}
	per := float64(objects()-before) / n
	t.Logf("%.2f objects per cached session", per)
	if per > 3 {
		t.Errorf("%.2f objects per cached session, want 2.5 (the cache's node, the entry and a share of its table)", per)
	}
}
