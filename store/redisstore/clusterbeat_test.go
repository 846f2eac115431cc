package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/store/redisstore"
)

// The slot of a key, as the heartbeat's discovery computes it, is the one
// Redis computes: CRC16 of "123456789" is 0x31C3, the check value of
// CRC-16/XMODEM.
func TestKeySlot(t *testing.T) {
	if got := redisstore.KeySlot("123456789"); got != 0x31C3 {
		t.Errorf("KeySlot(123456789) = %#x, want 0x31c3", got)
	}
}

// The same against a Cluster's CLUSTER KEYSLOT, for the keys the discovery
// tries first.
func testKeySlotAgreesWithRedis(t *testing.T, client *redis.ClusterClient) {
	for i := range 50 {
		k := "tether:heartbeat:" + strconv.Itoa(i)
		want, err := client.ClusterKeySlot(t.Context(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := redisstore.KeySlot(k); int64(got) != want {
			t.Errorf("KeySlot(%q) = %d, Redis says %d", k, got, want)
		}
	}
}

// A heartbeat in a Cluster goes through every master (HeartbeatEveryMaster)
// without reading the cluster's slot map each time: the first version asked
// a node for CLUSTER SLOTS on every heartbeat of every subscribed node, and
// with a master down that request and go-redis's retries could outlast a
// short interval. Over 40 heartbeats the masters' keys are found again
// every 10 and go-redis refreshes its own view every 10 seconds: a handful
// of CLUSTER SLOTS in all, not one per heartbeat.
func testHeartbeatReadsNoSlotMapEachTime(t *testing.T, client *redis.ClusterClient) {
	ctx := t.Context()
	forEachNode := func(f func(context.Context, *redis.Client) error) {
		if err := client.ForEachShard(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	forEachNode(func(ctx context.Context, c *redis.Client) error { return c.ConfigResetStat(ctx).Err() })
	s := newStore(t, client, redisstore.WithPrefix("sm:"), redisstore.WithNotifyHeartbeat(50*time.Millisecond))
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)
	if lost := countLost(n, 2*time.Second); lost != 0 {
		t.Fatalf("%d Lost on a healthy cluster", lost)
	}
	n.cancel()
	var (
		mu    sync.Mutex
		calls int
	)
	forEachNode(func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		for line := range strings.Lines(info) {
			stats, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_cluster|slots:calls=")
			if !ok {
				continue
			}
			v, _, _ := strings.Cut(stats, ",")
			k, _ := strconv.Atoi(v)
			mu.Lock()
			calls += k
			mu.Unlock()
		}
		return nil
	})
	if calls > 10 {
		t.Errorf("%d CLUSTER SLOTS in 2 s of heartbeats every 50 ms", calls)
	}
}
