package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// The fast path takes (kind, version, last seen, expires, created) for the
// identity of a record's content. Redis breaks that as soon as it loses a
// write it acknowledged: an asynchronous replica promoted by a failover, or
// a restart from an RDB snapshot or an AOF fsynced once a second, hands the
// record back at an older version, and the next write reuses the lost
// write's version number for other content. A caller that loaded the lost
// record (before the failover) then passes it as a Base whose header matches
// the record now stored, and the fast path writes the lost values over the
// new ones: the write that survived the failover is lost, the one Redis lost
// comes back. The commit script would apply the change to what is stored.
//
// The times here are kept (zero LastSeen and Expires: store callers do
// that); with the session manager's times, which are the request's
// millisecond, the same happens when the two writes on either side of the
// failover fall in one millisecond.
//
// The failover is played with DUMP and RESTORE of the record.
func TestBreakFastCommitVersionReusedAfterLostWrite(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	for _, fast := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			var opts []redisstore.Option
			if !fast {
				opts = append(opts, redisstore.WithoutFastCommit())
			}
			s := newStore(t, client, opts...)
			ctx := t.Context()
			id := newID()
			seedRecord(t, s, id)
			key := s.KeyPrefix() + "s:" + id
			snapshot := client.Dump(ctx, key).Val() // what the replica has
			pttl := client.PTTL(ctx, key).Val()

			// Acknowledged by the primary, never replicated.
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}}); err != nil {
				t.Fatal(err)
			}
			stale, err := s.Load(ctx, id) // a request loads it before the failover
			if err != nil || stale == nil {
				t.Fatal(stale, err)
			}

			// Failover: the replica's copy is the record now.
			if err := client.RestoreReplace(ctx, key, pttl, snapshot).Err(); err != nil {
				t.Fatal(err)
			}
			// Another request writes after the failover: the lost write's
			// version number again.
			res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"kept": []byte("1")}})
			if err != nil || res.Version != stale.Version {
				t.Fatalf("the write after the failover: %v, %v; want version %d", res, err, stale.Version)
			}

			// The request that loaded before the failover commits.
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("9")}, Base: stale}); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Load(ctx, id)
			if v, ok := got.Values.Lookup("kept"); !ok || string(v) != "1" {
				t.Errorf("the write made after the failover is gone: keys %v", keysOf(got))
			}
			if _, ok := got.Values.Lookup("lost"); ok {
				t.Errorf("the write the failover lost came back: keys %v", keysOf(got))
			}
		})
	}
}

func keysOf(r *store.Record) []string {
	var ks []string
	for k := range r.Values.Keys() {
		ks = append(ks, k)
	}
	return ks
}

var (
	_ = context.Background
	_ = errors.Is
	_ = strings.Repeat
	_ sync.Mutex
	_ redis.Cmder
	_ = time.Now
)
