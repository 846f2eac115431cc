package redisstore

import "time"

// SetNotifyPingEvery shortens Notify's PING interval for a test, and returns
// the function that restores it. Call it before Notify starts.
func SetNotifyPingEvery(d time.Duration) (restore func()) {
	old := notifyPingEvery
	notifyPingEvery = d
	return func() { notifyPingEvery = old }
}
