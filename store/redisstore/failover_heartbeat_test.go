package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store/redisstore"
)

// After a failover the promoted replica is a master that runs the writes of
// its slots, so the heartbeat must go through it within a few intervals: a
// broken link from it to the subscriber's node would otherwise lose its
// writes' invalidations unnoticed (Notify: Lost within two intervals). A
// version of the heartbeat that reached the masters through go-redis's
// cached slot map (which go-redis refreshes every minute, or after an error)
// sent none through the new master after a CLUSTER FAILOVER TAKEOVER, where
// nothing errs; found by a review and reverted.
func TestHeartbeatReachesPromotedMaster(t *testing.T) {
	t.Parallel()
	cluster := testserver.RedisCluster(t, testserver.WithClusterReplicas(1))
	client := newClusterClient(t, cluster.Addrs())
	ctx := t.Context()
	s := newStore(t, client, redisstore.WithPrefix("fo:"), redisstore.WithNotifyHeartbeat(100*time.Millisecond))

	// Pick a master other than the subscription's, and its replica.
	subMaster, err := client.MasterForKey(ctx, "fo:invalidate")
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, m := range cluster.Masters() {
		if m.Addr() != subMaster.Options().Addr {
			victim = m.Addr()
			break
		}
	}
	var replica string
	for _, n := range cluster.Nodes() {
		c := redis.NewClient(&redis.Options{Addr: n.Addr()})
		role, err := c.Do(ctx, "ROLE").Slice()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(role) >= 3 && role[0] == "slave" {
			if host, _ := role[1].(string); host != "" {
				port := role[2]
				if strings.HasSuffix(victim, ":"+fmt.Sprint(port)) {
					replica = n.Addr()
				}
			}
		}
	}
	if replica == "" {
		t.Fatalf("no replica of %s", victim)
	}

	watch := client.PSubscribe(ctx, "fo:invalidate:heartbeat:*")
	defer watch.Close()
	if _, err := watch.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)
	time.Sleep(500 * time.Millisecond)

	rc := redis.NewClient(&redis.Options{Addr: replica})
	defer rc.Close()
	if err := rc.Do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		role, err := rc.Do(ctx, "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "master" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not promoted: %v %v", replica, role, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cluster.WaitHealthy()
	// 3 s: 30 heartbeats.
	seen := map[string]int{}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		msg, err := watch.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			continue
		}
		if m, ok := msg.(*redis.Message); ok {
			_, addr, _ := strings.Cut(m.Payload, "@")
			seen[addr]++
		}
	}
	if seen[replica] == 0 {
		t.Errorf("in 3 s after %s took over %s's slots, no heartbeat went through it (heartbeats by address: %v)", replica, victim, seen)
	}
}
