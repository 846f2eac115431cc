package redisstore

import (
	"context"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// clusterBeat sends one subscription's heartbeats through every master of a
// Redis Cluster (see Store.heartbeat for why every master).
//
// It keeps, for each master, a key in one of its slots, and reaches the
// master with MasterForKey, which reads go-redis's cached view of the
// cluster: a heartbeat is one PUBLISH per master and no reading of the
// cluster's state. ForEachMaster, which it used before, asks a node for the
// whole slot map on every call; with a master down, that request and
// go-redis's retries could outlast a short heartbeat interval, and a healthy
// subscription was declared lost. The keys are found again every
// rediscoverEvery heartbeats, so that a master added by resharding is heard
// through from then on, and sooner if the keys no longer name one master
// each. Each discovery but the first comes after the heartbeat went out, so
// a slow one delays no heartbeat. A master that does not take a heartbeat
// (it is down, and its replica not yet promoted) keeps its key: its slots
// are the same after the failover, and go-redis's view, which it refreshes
// itself, then names the new master.
type clusterBeat struct {
	cc    *redis.ClusterClient
	keys  []string // one per master, as of the last discovery
	beats int      // heartbeats since that discovery
	stale bool     // the keys did not reach one master each
}

// rediscoverEvery is how many heartbeats go through the masters of one
// discovery: at the default interval, a CLUSTER SLOTS every 10 seconds per
// subscribed node, as often as go-redis refreshes its own view.
const rediscoverEvery = 10

// publish publishes seq, marked with each master's address, through every
// master it reaches within ctx, and returns pending with the payloads it
// published. With no keys yet, it first finds them (if it cannot, it
// publishes nothing, and the caller falls back to a single PUBLISH).
func (b *clusterBeat) publish(ctx context.Context, beat, seq string, pending []string) []string {
	if b.keys == nil {
		b.discover(ctx)
	}
	masters := make(map[string]*redis.Client, len(b.keys))
	for _, k := range b.keys {
		c, err := b.cc.MasterForKey(ctx, k)
		if err != nil {
			b.stale = true
			continue
		}
		masters[c.Options().Addr] = c
	}
	if len(masters) < len(b.keys) {
		b.stale = true // two keys on one master: the slots moved
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for addr, c := range masters {
		wg.Go(func() {
			p := seq + "@" + addr
			if c.Publish(ctx, beat, p).Err() != nil {
				return // left out: a master that runs no writes loses none
			}
			mu.Lock()
			pending = append(pending, p)
			mu.Unlock()
		})
	}
	wg.Wait()
	if b.beats++; b.stale || b.beats >= rediscoverEvery {
		b.discover(ctx)
	}
	return pending
}

// discover finds the masters' keys again; on failure it keeps the last ones.
func (b *clusterBeat) discover(ctx context.Context) {
	if keys, err := masterKeys(ctx, b.cc); err == nil && len(keys) > 0 {
		b.keys, b.beats, b.stale = keys, 0, false
	}
}

// masterKeys returns a key in a slot of each master of the cluster's slot
// map, as CLUSTER SLOTS reports it.
func masterKeys(ctx context.Context, cc *redis.ClusterClient) ([]string, error) {
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	owner := func(slot int) string {
		for _, r := range slots {
			if r.Start <= slot && slot <= r.End && len(r.Nodes) > 0 {
				return r.Nodes[0].Addr
			}
		}
		return ""
	}
	masters := make(map[string]bool)
	for _, r := range slots {
		if len(r.Nodes) > 0 {
			masters[r.Nodes[0].Addr] = true
		}
	}
	found := make(map[string]string, len(masters))
	// Keys fall on slots uniformly: a master that serves a single slot of
	// the 16384 is found after 16384 keys on average.
	for i := 0; len(found) < len(masters) && i < 1<<20; i++ {
		k := "tether:heartbeat:" + strconv.Itoa(i)
		if a := owner(keySlot(k)); a != "" && found[a] == "" {
			found[a] = k
		}
	}
	keys := make([]string, 0, len(found))
	for _, k := range found {
		keys = append(keys, k)
	}
	return keys, nil
}

// keySlot is the Cluster slot of a key with no hash tag: CRC16 (XMODEM) of
// the key, modulo 16384.
func keySlot(key string) int {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}
