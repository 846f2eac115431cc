package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// A device that rotates between UserSessions' read of the index and its
// read of the sessions (here: its new record is missing from the index, as
// it is when it was indexed after the ZRANGE) is listed under its new
// record, not left out: "log out everywhere" stops at the first empty
// listing, and would miss it. (storetest's Users/DeleteUserDuringRotations
// failed now and then on Redis and over hybridstore before this.)
func TestUserSessionsFollowsARotationMissedByTheIndex(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("follow:"))
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	old, cur := newID(), newID()
	for _, id := range []string{old, cur} {
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "dora", SetUserID: true, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Move(ctx, old, store.Moved{To: cur}, now.Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	// The index as a ZRANGE read it before the rotation: the old record
	// listed (the Move unindexed it since), the new one not yet.
	client.ZRem(ctx, "follow:u:dora", cur)
	client.ZAdd(ctx, "follow:u:dora", redis.Z{Score: float64(now.UnixMilli()), Member: old})
	infos, err := s.UserSessions(ctx, "dora")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].ID != cur {
		t.Fatalf("UserSessions = %+v, want the rotated-to session %.8s…", infos, cur)
	}
}
