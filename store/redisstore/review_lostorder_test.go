package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
)

// Review of a4e3a05: other orders of lost and surviving writes. The lost
// write is a touch or a commit; after the failover another request commits
// or touches; the request that loaded the lost record then commits with it
// as its Base and rotates (Move at its version). Whatever was lost must
// stay lost, what came after must stay, and the result must not say the
// commit applied to the lost version.
func TestReviewLostWriteOrders(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := newStore(t, client)
	ctx := t.Context()
	for _, lost := range []string{"touch", "commit", "commit+touch"} {
		for _, after := range []string{"commit", "touch", "touch+commit"} {
			t.Run(fmt.Sprintf("%s/%s", lost, after), func(t *testing.T) {
				id := newID()
				seedRecord(t, s, id)
				key := s.KeyPrefix() + "s:" + id
				snapshot := client.Dump(ctx, key).Val()
				pttl := client.PTTL(ctx, key).Val()
				var do func(op, k string)
				do = func(op, k string) {
					t.Helper()
					var err error
					switch op {
					case "touch":
						err = s.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour))
					case "commit":
						_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{k: []byte("1")}})
					case "commit+touch":
						do("commit", k)
						do("touch", k)
					case "touch+commit":
						do("touch", k)
						do("commit", k)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				do(lost, "lost")
				stale, err := s.Load(ctx, id)
				if err != nil || stale == nil {
					t.Fatal(stale, err)
				}
				if err := client.RestoreReplace(ctx, key, pttl, snapshot).Err(); err != nil {
					t.Fatal(err)
				}
				do(after, "kept")
				if err := s.Move(ctx, id, store.Moved{To: newID()}, time.Now().Add(time.Hour), stale.Version); err == nil {
					t.Fatalf("a Move at the lost version %d passed", stale.Version)
				}
				res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("9")}, Base: stale})
				if err != nil {
					t.Fatal(err)
				}
				if res.Before() == stale.Version {
					t.Errorf("the commit says it applied to the lost version %d", stale.Version)
				}
				got, _ := s.Load(ctx, id)
				if _, ok := got.Values.Lookup("lost"); ok {
					t.Errorf("the lost write came back: %v", keysOf(got))
				}
				if after != "touch" {
					if _, ok := got.Values.Lookup("kept"); !ok {
						t.Errorf("the write after the failover is gone: %v", keysOf(got))
					}
				}
			})
		}
	}
}
