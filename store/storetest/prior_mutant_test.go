package storetest_test

import (
	"context"
	"sync"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

// Two stores that misreport Result.Prior (found by a review of a4e3a05):
// the session and hybridstore trust Result.Before to say whether another
// write came in between the caller's load and its commit, so a store that
// reports the version it last handed to a Load, or the caller's Base, is
// right whenever nothing wrote in between and wrong exactly when it matters.
// A session over the first lost another request's write through a rotation.
func init() {
	mutants["prior-is-last-load"] = mutant{
		groups: "Commit",
		fails:  []string{"Commit/BeforeAfterOtherWrite"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return &lastLoadPrior{broken: broken{s, c}, seen: map[string]uint64{}}
		},
	}
	mutants["prior-is-base"] = mutant{
		groups: "Base",
		fails:  []string{"Base/Stale"},
		make: func(s *memstore.Store, c *storetest.Clock) store.Store {
			return basePrior{broken{s, c}}
		},
	}
}

// lastLoadPrior reports, as the version an update applied to, the version
// of the record this store last returned from Load for the ID.
type lastLoadPrior struct {
	broken
	mu   sync.Mutex
	seen map[string]uint64
}

func (b *lastLoadPrior) Load(ctx context.Context, id string) (*store.Record, error) {
	rec, err := b.Store.Load(ctx, id)
	if rec != nil && rec.Moved == nil {
		b.mu.Lock()
		b.seen[id] = rec.Version
		b.mu.Unlock()
	}
	return rec, err
}

func (b *lastLoadPrior) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	res, err := b.Store.Commit(ctx, id, c)
	if err == nil && c.Mode == store.Update {
		b.mu.Lock()
		if v, ok := b.seen[id]; ok && v < res.Version {
			res.Prior = v
		}
		b.mu.Unlock()
	}
	return res, err
}

// basePrior reports the caller's Base as what its commit applied to, if it
// passed one and the Base is older than the result.
type basePrior struct{ broken }

func (b basePrior) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	res, err := b.Store.Commit(ctx, id, c)
	if err == nil && c.Mode == store.Update && c.Base != nil && c.Base.Version != 0 && c.Base.Version < res.Version {
		res.Prior = c.Base.Version
	}
	return res, err
}
