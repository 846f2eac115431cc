package redisstore

import "time"

// SetNotifyHeartbeat shortens Notify's heartbeat interval for a test, and returns
// the function that restores it. Call it before Notify starts.
func SetNotifyHeartbeat(d time.Duration) (restore func()) {
	old := notifyHeartbeat
	notifyHeartbeat = d
	return func() { notifyHeartbeat = old }
}
