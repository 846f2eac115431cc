package hybridstore

import "sync/atomic"

// Stats is a snapshot of a store's counters, for an operator to scrape
// (export them as Prometheus counters, expvar, log lines). Every counter
// counts from New and only grows; compare two snapshots for rates.
type Stats struct {
	// Hits counts Loads answered from the local cache, including those a
	// version check confirmed (see Revalidations).
	Hits uint64
	// Misses counts Loads that found no usable local entry and went to the
	// remote (or shared a load already on its way there).
	Misses uint64
	// Loads counts remote Loads made. Misses minus Loads is what concurrent
	// misses of one ID saved by sharing a load.
	Loads uint64
	// Revalidations counts version checks sent to a store.Versioner remote;
	// those that did not match are also Misses.
	Revalidations uint64
	// Invalidations counts change notifications received from a
	// store.Notifier remote (including those of this node's own writes).
	Invalidations uint64
	// Flushes counts whole-cache flushes: on every loss of the remote's
	// notifications and every re-subscription.
	Flushes uint64
	// Evictions counts entries the cache dropped to stay within WithMaxBytes.
	// A steady rate means the cache is too small for the working set.
	Evictions uint64
	// RemoteErrors counts remote calls that failed, other than typed
	// outcomes (ErrNotFound and the like) and the caller's own cancellation.
	RemoteErrors uint64
	// StaleServes counts Loads answered from a local entry because the
	// remote failed (WithStaleIfError).
	StaleServes uint64

	// Entries and Bytes are the cache's current size: its entries, and their
	// weight as WithMaxBytes counts it.
	Entries int
	Bytes   uint64
	// Bypassing is true while local entries are neither served nor filled
	// because the remote's notifications are down: before the first
	// subscription, and from a loss to the next re-subscription. Every read
	// then goes to the remote.
	Bypassing bool
}

// counters are the live counters behind Stats.
type counters struct {
	hits, misses, loads, revalidations atomic.Uint64
	invalidations, flushes, evictions  atomic.Uint64
	remoteErrors, staleServes          atomic.Uint64
}

// Stats returns a snapshot of the store's counters. It is cheap: a few
// atomic loads.
func (s *Store) Stats() Stats {
	return Stats{
		Hits:          s.stats.hits.Load(),
		Misses:        s.stats.misses.Load(),
		Loads:         s.stats.loads.Load(),
		Revalidations: s.stats.revalidations.Load(),
		Invalidations: s.stats.invalidations.Load(),
		Flushes:       s.stats.flushes.Load(),
		Evictions:     s.stats.evictions.Load(),
		RemoteErrors:  s.stats.remoteErrors.Load(),
		StaleServes:   s.stats.staleServes.Load(),
		Entries:       s.cache.EstimatedSize(),
		Bytes:         s.cache.WeightedSize(),
		Bypassing:     !s.usable.Load(),
	}
}
