package redisstore_test

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// A commit that sets a user indexes the session whatever the committing
// node's clock says of its expiry: Redis's clock decides whether the record
// lives (the key's PXAT). A node whose clock runs ahead of Redis's by more
// than a session has left to live once skipped the index entry, leaving a
// session Redis still served out of its user's index, where DeleteUser
// could not find it. Here the expiry has passed by this node's clock; the
// entry must be made all the same (and is pruned with the dead ones).
func TestCommitIndexesWhateverTheNodeClock(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("iclock:"))
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	for i, c := range []store.Change{
		{Mode: store.Create, UserID: "dana", Created: now.Add(-time.Hour), LastSeen: now, Expires: now.Add(-time.Millisecond)},
		{Mode: store.Update, SetUserID: true, UserID: "dana", LastSeen: now, Expires: now.Add(-time.Millisecond)},
	} {
		id := newID()
		if c.Mode == store.Update {
			live := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
			if _, err := s.Commit(ctx, id, live); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if _, err := client.ZScore(ctx, "iclock:u:dana", id).Result(); err != nil {
			t.Errorf("change %d (%v, expiry passed by this node's clock): no user index entry: %v", i, c.Mode, err)
		}
	}
}
