package memcachestore_test

import (
	"testing"

	"github.com/tether-go/tether/internal/apptest"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store/memcachestore"
)

// The end-to-end walk through the session manager (header tokens, rotation,
// remember me, device attributes, revoking a device) on a real memcached.
func TestJourney(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	apptest.Journey(t, memcachestore.New(memcachedClient(t, srv.Addr()), memcachestore.WithKeyPrefix(prefix())))
}
