package memcachestore

import (
	"context"
	"maps"
	"slices"
	"time"
)

// WithClock makes the store read the time from now, for tests of the user
// index's grace periods. Expiry sent to memcached still follows the records'
// Expires, so a clock far from the real one makes memcached keep or drop
// items on its own schedule.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithAfterIndexRead makes UserSessions call fn after it read the user's
// index, before it reads the records (storetest.WithDuringUserSessions).
func WithAfterIndexRead(fn func()) Option {
	return func(c *config) { c.afterIndex = fn }
}

// Exptime exposes exptime to the external tests.
var Exptime = exptime

// ServerStats exposes serverStats to the external tests.
var ServerStats = serverStats

// IndexPruneAt exposes indexPruneAt to the external tests.
const IndexPruneAt = indexPruneAt

// IndexedIDs returns the IDs user's index lists, for the external tests
// that check which entries a clean-up kept.
func IndexedIDs(s *Store, ctx context.Context, user string) ([]string, error) {
	_, x, err := s.readIndex(ctx, s.indexKey(user))
	if x == nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(x.entries)), err
}

// KeyPrefix is the store's key prefix, for a test's second node on the same
// keys.
func (s *Store) KeyPrefix() string { return s.cfg.prefix }
