package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/store"
)

// Backoff between subscription attempts.
const (
	notifyMinBackoff = 50 * time.Millisecond
	notifyMaxBackoff = 2 * time.Second
)

// Notify implements [store.Notifier]. Every write of the store publishes the
// record's ID on the invalidation channel (WithChannel) from inside the
// script that makes it, so the notification is part of the atomic step.
// Notify subscribes to that channel on a connection of its own and calls fn:
//
//   - with Reset once the server has confirmed the subscription, and again
//     after every re-subscription;
//   - with the ID of every record any store on the channel changed;
//   - with Lost when the subscription fails: its connection broke, or a
//     heartbeat it published did not come back (see below); it then
//     subscribes again, backing off from 50 milliseconds to 2 seconds between
//     attempts.
//
// Every heartbeat interval ([WithHeartbeat], 1 second by default) the
// subscription publishes a heartbeat, through the store's client as writes
// do, on a channel of its own, and expects to hear it back before the next
// one. This catches what a PING cannot: a link that stalled or a connection
// that died silently (no FIN, no RST), and, with Sentinel, a subscription
// left on a demoted master while writes go to the new one. A subscription
// that stops hearing the store's writes is declared Lost at most two
// intervals (2 seconds by default) after it stopped: a heartbeat sent at most
// one interval later is overdue one interval after that. On one server a
// heartbeat reaches the subscription after the publications of every write
// Redis ran before it, so a heartbeat heard back proves those were heard too.
//
// Notify returns ctx's error when ctx is done, or [ErrClosed] when the store
// is closed, and leaves no goroutine behind. It returns an error matching
// [store.ErrUnsupported] at once if writes do not publish (WithNotify(false))
// or the client is a [redis.Ring], whose shards do not share publications. In a Cluster, Redis forwards
// every publication to every node, so the subscription may live on any node;
// each master forwards its own over its own links, so the heartbeat goes
// through every master it can reach, and one not heard back from any of them
// is a loss.
func (s *Store) Notify(ctx context.Context, fn func(store.Event)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.cfg.notify {
		return fmt.Errorf("redisstore: notify: writes do not publish (WithNotify(false)): %w", store.ErrUnsupported)
	}
	if _, ok := s.client.(*redis.Ring); ok {
		// A Ring's shards are separate servers: a publication reaches the
		// subscribers of its own shard only.
		return fmt.Errorf("redisstore: notify: a redis.Ring cannot broadcast: %w", store.ErrUnsupported)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()

	backoff := notifyMinBackoff
	for {
		live := s.subscribe(ctx, fn)
		if ctx.Err() != nil {
			if s.life.Err() != nil {
				return ErrClosed
			}
			return context.Cause(ctx)
		}
		if live {
			fn(store.Event{Lost: true})
			backoff = notifyMinBackoff
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, notifyMaxBackoff)
	}
}

// subscribe runs one subscription until it fails or ctx is done, and reports
// whether it got as far as a Reset (so a Lost is owed).
//
// A subscription can fail silently: a connection that died without a FIN, or
// (with Sentinel) a subscription still on an old master that was demoted while
// writes go to the new one. So besides the invalidation channel it subscribes
// to a heartbeat channel of its own, and every heartbeat interval publishes a
// heartbeat there through the store's client, the way writes publish. A
// heartbeat not heard back by the next one means the subscription does not
// hear what writes publish: it is lost.
func (s *Store) subscribe(ctx context.Context, fn func(store.Event)) (live bool) {
	beat := s.cfg.channel + ":heartbeat:" + rand.Text()
	ps := s.client.Subscribe(ctx, s.cfg.channel, beat)
	// A blocked read does not watch ctx: closing the PubSub ends it.
	closed := make(chan struct{})
	unblock := context.AfterFunc(ctx, func() {
		_ = ps.Close()
		close(closed)
	})
	defer func() {
		if unblock() {
			_ = ps.Close()
		} else {
			<-closed
		}
	}()

	lost := func(why string, err error) bool {
		if live && ctx.Err() == nil {
			s.cfg.logger.Debug("redisstore: invalidation subscription lost", "why", why, "err", err)
		}
		return live
	}
	var (
		confirmed int
		sent      int      // heartbeats sent
		pending   []string // the heartbeats awaited
		next      = time.Now().Add(s.cfg.heartbeat)
	)
	for {
		if wait := time.Until(next); wait > 0 {
			msg, err := ps.ReceiveTimeout(ctx, wait)
			if err == nil {
				switch m := msg.(type) {
				case *redis.Subscription:
					if m.Kind == "subscribe" && (m.Channel == s.cfg.channel || m.Channel == beat) {
						if confirmed++; confirmed == 2 {
							live = true
							fn(store.Event{Reset: true})
						}
					}
				case *redis.Message:
					switch {
					case m.Channel == beat:
						pending = slices.DeleteFunc(pending, func(p string) bool { return p == m.Payload })
					case live && m.Channel == s.cfg.channel:
						fn(store.Event{ID: m.Payload})
					}
				}
				continue
			}
			if ctx.Err() != nil || !isTimeout(err) {
				return lost("receive", err)
			}
		}
		// Heartbeat time.
		if len(pending) > 0 {
			return lost("heartbeat not heard back", nil)
		}
		if !live {
			// Not confirmed within a heartbeat interval: the SUBSCRIBE may
			// have gone into a dead connection. Start afresh.
			return lost("subscription not confirmed", nil)
		}
		next = time.Now().Add(s.cfg.heartbeat)
		sent++
		var err error
		pending, err = s.heartbeat(ctx, s.cfg.heartbeat, beat, strconv.Itoa(sent), pending)
		if err != nil {
			return lost("heartbeat", err)
		}
	}
}

// heartbeat publishes the heartbeat seq on beat within budget and returns
// pending with the payloads to await.
//
// In a Cluster it publishes through every master, each payload marked with
// the master's address: Redis forwards a publication from the node that runs
// it over that node's own cluster-bus links, so a heartbeat through one
// master (go-redis sends a keyless PUBLISH to a random one) proves only that
// master's link to the subscriber's node. A broken link from another master
// would lose the publications of the writes on it while the subscription
// went on hearing heartbeats. A master the heartbeat cannot reach is left
// out: it runs no writes, so it has nothing to lose. Only if no master takes
// it (the cluster's state could not be read in half the budget, say, because
// the node asked is stalled) does it fall back to one PUBLISH through the
// client, which go-redis retries on another node, with the other half.
func (s *Store) heartbeat(ctx context.Context, budget time.Duration, beat, seq string, pending []string) ([]string, error) {
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		before := len(pending)
		mctx, cancel := context.WithTimeout(ctx, budget/2)
		_ = cc.ForEachMaster(mctx, func(ctx context.Context, c *redis.Client) error {
			p := seq + "@" + c.Options().Addr
			if c.Publish(ctx, beat, p).Err() != nil {
				return nil
			}
			mu.Lock()
			pending = append(pending, p)
			mu.Unlock()
			return nil
		})
		cancel()
		if len(pending) > before {
			return pending, nil
		}
		budget /= 2
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	return append(pending, seq), s.client.Publish(pctx, beat, seq).Err()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
