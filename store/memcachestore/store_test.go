package memcachestore_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
	"github.com/tether-go/tether/store/storetest"
)

// prefix returns a key prefix of its own for one store, so that stores on one
// server never see each other's records.
func prefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "t" + hex.EncodeToString(b) + ":"
}

// The servers run with -I 2m, as the documentation asks for records of up to
// the default per-record limit.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "2m"))
	client := memcachedClient(t, srv.Addr())
	storetest.Run(t, func(t *testing.T) store.Store {
		return memcachestore.New(client, memcachestore.WithKeyPrefix(prefix()))
	}, storetest.WithNode(func(t *testing.T, s store.Store, now func() time.Time) store.Store {
		return memcachestore.New(client, memcachestore.WithKeyPrefix(s.(*memcachestore.Store).KeyPrefix()), memcachestore.WithClock(now))
	}), duringUserSessions(client))
}

// duringUserSessions gives the suite a node on the same keys whose
// UserSessions runs the suite's writes between its index read and its
// record reads.
func duringUserSessions(client *memcache.Client) storetest.Option {
	return storetest.WithDuringUserSessions(func(t *testing.T, s store.Store, during func()) store.Store {
		return memcachestore.New(client, memcachestore.WithKeyPrefix(s.(*memcachestore.Store).KeyPrefix()), memcachestore.WithAfterIndexRead(during))
	})
}

// Two servers behind one client: records and user indexes hash to different
// servers, so UserSessions and DeleteUser read across both.
func TestConformanceTwoServers(t *testing.T) {
	t.Parallel()
	a, b := testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "2m")), testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "2m"))
	client := memcachedClient(t, a.Addr(), b.Addr())
	storetest.Run(t, func(t *testing.T) store.Store {
		return memcachestore.New(client, memcachestore.WithKeyPrefix(prefix()))
	}, duringUserSessions(client))
}
