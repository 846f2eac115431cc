package hybridstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/storetest"
)

// TestMemcached runs, on one memcached server, the conformance suite over the
// hybrid store and the two-node tests: Memcached cannot notify, so every hit
// is revalidated with a version check, and a write on another node is seen
// at once.
func TestMemcached(t *testing.T) {
	t.Parallel()
	// -I 2m: a record of the 1 MiB limit can take up to 1.7 MiB encoded.
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "2m"))

	t.Run("Conformance", func(t *testing.T) {
		h := newHybrid(t, newMemcacheStore(newMemcacheClient(t, srv.Addr()), ""))
		storetest.Run(t, func(t *testing.T) store.Store { return h })
		checkHits(t, h)
	})

	prefix := "n" + randHex(6) + ":"
	newMCNode := func() (*hybridstore.Store, *remote) {
		r := &remote{inner: newMemcacheStore(newMemcacheClient(t, srv.Addr()), prefix)}
		return newHybrid(t, versionedRemote{r}), r
	}
	a, ra := newMCNode()
	b, _ := newMCNode()

	t.Run("WriteOnBVisibleOnA", func(t *testing.T) {
		id := newID()
		create(t, a, id, "", time.Now(), "a", "1")
		if v := value(t, b, id, "a"); v != "1" {
			t.Errorf("B reads a = %q, want 1", v)
		}
		load(t, a, id)
		for i := 2; i < 12; i++ {
			want := strconv.Itoa(i)
			set(t, b, id, "a", want)
			if v := value(t, a, id, "a"); v != want {
				t.Errorf("right after B's write: a = %q on A, want %s", v, want)
			}
		}
		// Unchanged, a read is a hit that costs one version check.
		loads, versions := ra.loads.Load(), ra.versions.Load()
		for range 10 {
			value(t, a, id, "a")
		}
		if ra.loads.Load() != loads || ra.versions.Load() != versions+10 {
			t.Errorf("10 reads of an unchanged session: %d loads, %d version checks; want 0, 10",
				ra.loads.Load()-loads, ra.versions.Load()-versions)
		}
	})

	t.Run("LogoutOnBHonouredOnA", func(t *testing.T) {
		id := newID()
		create(t, a, id, "alice", time.Now(), "a", "1")
		load(t, a, id)
		if err := b.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if rec := load(t, a, id); rec != nil {
			t.Error("A serves a session B deleted")
		}
	})
}
