package redisstore

import "time"

// WithNotifyHeartbeat shortens Notify's heartbeat interval, for tests of
// subscriptions that fail silently.
func WithNotifyHeartbeat(d time.Duration) Option {
	return func(c *config) { c.heartbeat = d }
}
