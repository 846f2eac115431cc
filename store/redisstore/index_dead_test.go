package redisstore_test

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// Many past-expiry Creates for one user (each indexed, since the index no
// longer judges expiry by the node's clock; a review's test) next to one live
// session: UserSessions lists the live one, DeleteUser counts one, the
// index does not keep every dead entry forever, and the live one survives
// pruning.
func TestDeadIndexEntriesCountForNothing(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("flood:"))
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	liveID := newID()
	if _, err := s.Commit(ctx, liveID, store.Change{Mode: store.Create, UserID: "dana", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	same := newID()
	for i := range 200 {
		id := newID()
		if i%2 == 0 {
			id = same
		}
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "dana", Created: now, LastSeen: now, Expires: time.Now().Add(-time.Millisecond)}); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	n, _ := client.ZCard(ctx, "flood:u:dana").Result()
	t.Logf("index entries after 200 past-expiry creates: %d", n)
	infos, err := s.UserSessions(ctx, "dana")
	if err != nil || len(infos) != 1 || infos[0].ID != liveID {
		t.Fatalf("UserSessions = %v, %v", infos, err)
	}
	got, err := s.DeleteUser(ctx, "dana")
	if err != nil || got != 1 {
		t.Fatalf("DeleteUser = %d, %v", got, err)
	}
	infos, err = s.UserSessions(ctx, "dana")
	if err != nil || len(infos) != 0 {
		t.Fatalf("UserSessions after = %v, %v", infos, err)
	}
	n, _ = client.ZCard(ctx, "flood:u:dana").Result()
	t.Logf("index entries after DeleteUser: %d", n)
}
