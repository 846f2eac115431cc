package memcachestore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// A commit that the caller gave up on (its command stalled on the way, the
// client timed out: the request was answered 503) may still reach memcached
// when the link recovers. It cannot overwrite a write acknowledged in the
// meantime: it is a cas against the item it read, which that write changed.
// With nothing in between it does apply, late: the window the package
// documentation describes.
func TestStalledCommitLandsLate(t *testing.T) {
	t.Parallel()
	for _, newer := range []bool{true, false} {
		t.Run(map[bool]string{true: "NewerWriteWins", false: "NothingBetween"}[newer], func(t *testing.T) {
			t.Parallel()
			srv := testserver.Memcached(t)
			px := newProxy(t, srv.Addr())
			stalled := memcachedClient(t, px.addr())
			stalled.Timeout = 200 * time.Millisecond
			p := prefix()
			a := memcachestore.New(stalled, memcachestore.WithKeyPrefix(p))
			b := memcachestore.New(memcachedClient(t, srv.Addr()), memcachestore.WithKeyPrefix(p))
			ctx := t.Context()
			id := newID()
			create(t, b, id, "", time.Now().Add(time.Hour), map[string][]byte{"k": []byte("first")})

			px.holdNext("cas ")
			_, err := a.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("late")}})
			if err == nil {
				t.Fatal("the stalled commit succeeded")
			}
			<-px.held
			want := "late"
			if newer {
				if _, err := b.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("newer")}}); err != nil {
					t.Fatal(err)
				}
				want = "newer"
			}
			before := casCount(t, srv.Addr())
			px.release()
			// Wait for memcached to answer the late cas, one way or
			// the other.
			for deadline := time.Now().Add(5 * time.Second); casCount(t, srv.Addr()) == before; {
				if time.Now().After(deadline) {
					t.Fatal("the held cas never reached memcached")
				}
				time.Sleep(5 * time.Millisecond)
			}
			rec, err := b.Load(ctx, id)
			if err != nil || rec == nil || string(rec.Values.Get("k")) != want {
				t.Errorf("after the late cas: %v, %v; want k=%s", rec, err, want)
			}
		})
	}
}

// casCount is the number of cas commands memcached has answered.
func casCount(t *testing.T, addr string) int {
	t.Helper()
	st := memcachestore.ServerStats(t, addr)
	n := 0
	for _, k := range []string{"cas_hits", "cas_badval", "cas_misses"} {
		v, _ := strconv.Atoi(st[k])
		n += v
	}
	return n
}
