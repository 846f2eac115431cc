package store

import "context"

// Notifier is implemented by a store that can broadcast changes to other nodes
// (Redis pub/sub, Postgres NOTIFY). The hybrid tier uses it to evict local
// entries another node changed. Without it, a cache must revalidate entries
// with [Versioner] or bound their age.
type Notifier interface {
	// Notify delivers change notifications to fn until ctx is done, then
	// returns ctx's error. It reconnects by itself after a failure.
	//
	// The first call to fn, and the first after every reconnection, is an
	// event with Reset set: notifications may have been missed before it, so
	// the consumer must drop everything it cached. Between a failure and the
	// next Reset the consumer must not trust its cache; Notify calls fn with
	// Lost set when it notices the subscription has dropped.
	//
	// A write must publish its notification as part of the same atomic step,
	// so that no reader can see the new state before the notification is sent.
	// fn is called from one goroutine at a time and must not block for long.
	Notify(ctx context.Context, fn func(Event)) error
}

// Event is one change notification.
type Event struct {
	// ID is the record that changed (any write, delete, move or expiry
	// extension). Empty for Reset and Lost events.
	ID string

	// Reset: the subscription is (re)established; anything cached before
	// this event may be stale.
	Reset bool

	// Lost: the subscription dropped; notifications are being missed until
	// the next Reset.
	Lost bool
}

// Versioner is implemented by a store that can tell a record's current version
// more cheaply than loading it (Memcached). The hybrid tier revalidates cached
// entries with it when the store is not a [Notifier].
type Versioner interface {
	// Version returns the record's current version, or 0 if it is missing or
	// expired. A tombstone has a version of its own.
	Version(ctx context.Context, id string) (uint64, error)
}

// Pinger is implemented by a store that can check it reaches its backend, for
// readiness probes. Without it, callers assume the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}
