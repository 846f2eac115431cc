package memcachestore

import "time"

// WithClock makes the store read the time from now, for tests of the user
// index's grace periods. Expiry sent to memcached still follows the records'
// Expires, so a clock far from the real one makes memcached keep or drop
// items on its own schedule.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// Exptime exposes exptime to the external tests.
var Exptime = exptime

// ServerStats exposes serverStats to the external tests.
var ServerStats = serverStats
