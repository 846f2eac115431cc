package modelcheck

import (
	"errors"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
)

// Memory is one node on a memstore that reads the run's clock, yielding to
// other requests between store calls (see jitter).
func Memory(now func() time.Time, opts ...session.Option) ([]*session.Manager, func(), error) {
	st := memstore.New(memstore.WithClock(now))
	m, err := session.New(append(opts, session.WithStore(jitter{st}))...)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return []*session.Manager{m}, func() { m.Close(); st.Close() }, nil
}

// Nodes builds a Backend of one Manager per store that newStores returns:
// the stores must share one deployment (one Redis prefix, one table). close
// releases what newStores started, after the Managers are closed.
func Nodes(newStores func(now func() time.Time) (stores []store.Store, close func(), err error)) Backend {
	return func(now func() time.Time, opts ...session.Option) ([]*session.Manager, func(), error) {
		stores, closeStores, err := newStores(now)
		if err != nil {
			return nil, nil, err
		}
		var ms []*session.Manager
		closeAll := func() {
			var errs []error
			for _, m := range ms {
				errs = append(errs, m.Close())
			}
			closeStores()
			_ = errors.Join(errs...)
		}
		for _, st := range stores {
			m, err := session.New(append(opts, session.WithStore(st))...)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			ms = append(ms, m)
		}
		return ms, closeAll, nil
	}
}

// Hybrid puts a hybridstore, reading the run's clock, in front of each of
// remotes: one node per remote. Each remote must be a store of its own (its
// own subscription) on the shared deployment.
func Hybrid(now func() time.Time, remotes ...store.Store) []store.Store {
	out := make([]store.Store, len(remotes))
	for i, r := range remotes {
		out[i] = hybridstore.New(r, hybridstore.WithClock(now))
	}
	return out
}
