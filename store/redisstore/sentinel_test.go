package redisstore_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// waitFor polls cond every 50 ms until it returns nil, and fails the test
// with its last error after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sessions survive a Sentinel failover: writes acknowledged by the replica
// before it are readable after it, and writes after it land on the new master.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	set := testserver.RedisSentinel(t)
	replica := set.Servers()[1]
	replicaClient := newClient(t, replica.Addr())
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: set.SentinelAddrs()[0]})
	t.Cleanup(func() { sentinel.Close() })

	client := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            testserver.SentinelMaster,
		SentinelAddrs:         set.SentinelAddrs(),
		ContextTimeoutEnabled: true,
		DialTimeout:           200 * time.Millisecond,
	})
	t.Cleanup(func() { client.Close() })
	s := newStore(t, client, redisstore.WithPrefix("sen:"), redisstore.WithNotifyHeartbeat(500*time.Millisecond))
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)

	ctx := t.Context()
	now := time.Now()
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = newID()
		c := store.Change{Mode: store.Create, UserID: "dora", Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			Set: map[string][]byte{"i": []byte(strconv.Itoa(i))}}
		if _, err := s.Commit(ctx, ids[i], c); err != nil {
			t.Fatal(err)
		}
	}
	// Acknowledged by the replica: these must survive.
	if acked, err := client.Wait(ctx, 1, 2*time.Second).Result(); err != nil || acked != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want 1", acked, err)
	}

	if err := sentinel.Failover(ctx, testserver.SentinelMaster).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	waitFor(t, "the replica promoted", 10*time.Second, func() error {
		addr, err := sentinel.GetMasterAddrByName(ctx, testserver.SentinelMaster).Result()
		if err != nil {
			return err
		}
		if got := net.JoinHostPort(addr[0], addr[1]); got != replica.Addr() {
			return fmt.Errorf("master is %s", got)
		}
		return nil
	})
	// The client learns of the switch from the sentinel; until then, calls
	// may fail (the old master is read-only now), and the users get 503s.
	waitFor(t, "a write after the failover", 5*time.Second, func() error {
		_, err := s.Commit(ctx, ids[0], store.Change{Mode: store.Update, Set: map[string][]byte{"after": []byte("yes")}})
		return err
	})
	for i, id := range ids {
		rec, err := s.Load(ctx, id)
		if err != nil || rec == nil {
			t.Fatalf("session %d after the failover: %v, %v", i, rec, err)
		}
		if got := string(rec.Values.Get("i")); got != strconv.Itoa(i) {
			t.Errorf("session %d: i = %q", i, got)
		}
	}
	if infos, err := s.UserSessions(ctx, "dora"); err != nil || len(infos) != len(ids) {
		t.Errorf("UserSessions after the failover = %d, %v; want %d", len(infos), err, len(ids))
	}
	fresh := newID()
	if _, err := s.Commit(ctx, fresh, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatalf("create after the failover: %v", err)
	}
	role, err := replicaClient.Do(ctx, "ROLE").Slice()
	if err != nil || role[0] != "master" {
		t.Fatalf("ROLE of the promoted replica = %v, %v", role, err)
	}
	if n, err := replicaClient.Exists(ctx, "sen:s:"+fresh).Result(); err != nil || n != 1 {
		t.Errorf("the session created after the failover is not on the new master: %d, %v", n, err)
	}
	// The invalidation feed moves to the new master: the subscription was on
	// the old one, so there is a Lost (the old master's connection killed by
	// the sentinel, or a heartbeat that did not come back), then a Reset, then
	// events of writes on the new master.
	n.want(t, "Lost after the failover", 5*time.Second, isLost)
	n.want(t, "Reset after the failover", 5*time.Second, isReset)
	id := newID()
	create(t, s, id, "")
	n.want(t, "event after the failover", 2*time.Second, isID(id))
}
