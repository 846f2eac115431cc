package redisstore_test

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store/redisstore"
)

// A master dies, and until the cluster fails over to its replica
// (cluster-node-timeout) it runs no writes, so no invalidation can be lost:
// the subscription must not be declared Lost every heartbeat meanwhile. The
// first version of the every-master heartbeat failed the whole heartbeat when
// one master did not answer, and the subscription flapped (3 Lost in 3.5 s
// with a 1 s heartbeat; a cache reset for every subscriber each time) for as
// long as the failover took. Found by a review.
func TestHeartbeatWithADeadMaster(t *testing.T) {
	t.Parallel()
	cluster := testserver.RedisCluster(t, testserver.WithClusterReplicas(1), testserver.WithClusterNodeTimeout(4*time.Second))
	client := newClusterClient(t, cluster.Addrs())
	s := newStore(t, client, redisstore.WithPrefix("dm:"), redisstore.WithNotifyHeartbeat(time.Second))
	ctx := t.Context()
	// A master other than the one the subscription is on.
	subMaster, err := client.MasterForKey(ctx, "dm:invalidate")
	if err != nil {
		t.Fatal(err)
	}
	var victim *testserver.RedisServer
	for _, m := range cluster.Masters() {
		if m.Addr() != subMaster.Options().Addr {
			victim = m
			break
		}
	}
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)
	if lost := countLost(n, time.Second); lost != 0 {
		t.Fatalf("%d Lost before any fault", lost)
	}
	victim.Kill()
	// Three heartbeats (the default interval) before the failover can begin.
	if lost := countLost(n, 3500*time.Millisecond); lost > 0 {
		t.Errorf("the subscription was declared Lost %d times in 3.5 s while one master was down and could lose nothing", lost)
	}
}

// countLost drains n's events for d and returns how many were Lost.
func countLost(n *notification, d time.Duration) (lost int) {
	deadline := time.After(d)
	for {
		select {
		case ev := <-n.events:
			if ev.Lost {
				lost++
			}
		case <-deadline:
			return lost
		}
	}
}
