package redisstore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/store"
)

// Timing of Notify's subscription. A silent subscription is checked with a
// PING after notifyPingEvery, and declared lost if the PING is not answered
// within as long again: a connection that died without a FIN or RST (a node
// powered off, a network partition) is noticed within twice notifyPingEvery.
const (
	notifyMinBackoff = 50 * time.Millisecond
	notifyMaxBackoff = 2 * time.Second
)

// notifyPingEvery is a variable for tests of dead connections.
var notifyPingEvery = 5 * time.Second

// Notify implements [store.Notifier]. Every write of the store publishes the
// record's ID on the invalidation channel (WithChannel) from inside the
// script that makes it, so the notification is part of the atomic step.
// Notify subscribes to that channel on a connection of its own and calls fn:
//
//   - with Reset once the server has confirmed the subscription, and again
//     after every re-subscription;
//   - with the ID of every record any store on the channel changed;
//   - with Lost when the subscription fails (the connection broke or a PING
//     went unanswered); it then subscribes again, backing off from 50
//     milliseconds to 2 seconds between attempts.
//
// Notify returns ctx's error when ctx is done, or [ErrClosed] when the store
// is closed, and leaves no goroutine behind. In a Cluster, Redis forwards
// every publication to every node, so the subscription may live on any node.
func (s *Store) Notify(ctx context.Context, fn func(store.Event)) error {
	if err := ctx.Err(); err != nil {
		return err
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
func (s *Store) subscribe(ctx context.Context, fn func(store.Event)) (live bool) {
	ps := s.client.Subscribe(ctx, s.cfg.channel)
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

	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, notifyPingEvery)
		if err != nil {
			if ctx.Err() != nil || !isTimeout(err) || pinged {
				if live && ctx.Err() == nil {
					s.cfg.logger.Debug("redisstore: invalidation subscription lost", "err", err)
				}
				return live
			}
			if err := ps.Ping(ctx); err != nil {
				return live
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.cfg.channel {
				live = true
				fn(store.Event{Reset: true})
			}
		case *redis.Message:
			if live && m.Channel == s.cfg.channel {
				fn(store.Event{ID: m.Payload})
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
