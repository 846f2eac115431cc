package memcachestore_test

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store/memcachestore"
	"github.com/tether-go/tether/store/storetest"
)

// skewedStores returns two nodes on one key prefix of the memcached at addr:
// one whose clock is the returned clock, and one whose clock runs skew ahead
// of it (behind if skew is negative), which reaches memcached through
// skewedAddr if it is not "" (a proxy that loses replies, say).
func skewedStores(t *testing.T, addr, skewedAddr string, skew time.Duration) (node, skewed *memcachestore.Store, clock *storetest.Clock) {
	if skewedAddr == "" {
		skewedAddr = addr
	}
	pfx := prefix()
	clock = storetest.NewClock(time.Now())
	node = memcachestore.New(memcachedClient(t, addr), memcachestore.WithKeyPrefix(pfx), memcachestore.WithClock(clock.Now))
	skewed = memcachestore.New(memcachedClient(t, skewedAddr), memcachestore.WithKeyPrefix(pfx), memcachestore.WithClock(func() time.Time {
		return clock.Now().Add(skew)
	}))
	return node, skewed, clock
}
