package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tether-go/tether/store"
)

// Reconnection backoff of the listening connection.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// Notify implements [store.Notifier] with LISTEN on a connection of its own.
//
// Each write's statement calls pg_notify(channel, id), so its notification is
// delivered when the write commits and not before. Notify takes a connection
// from the pool and keeps it (pgxpool's Hijack: the pool opens another in its
// place), LISTENs on [WithChannel], calls fn with a Reset event, and then with
// an event per notification on the channel — other stores' writes included.
// When the connection fails, or cannot be made, it calls fn with a Lost event
// (once per failure, not per retry), reconnects with exponential backoff
// (100 ms to 5 s, jittered), and calls fn with Reset again once it listens.
//
// A connection can also stall without failing (a vanished NAT entry, a
// partition: no FIN, no RST), and a quiet channel looks the same as a dead
// one. So the listener also LISTENs on a heartbeat channel of its own, and
// every [WithHeartbeat] interval (default 1 s) sends a notification there
// through the pool, the way writes notify; a heartbeat not heard back by the
// next one is a lost subscription. A stall is therefore reported as Lost at
// most twice the interval after it began (2 s by default).
//
// fn runs on Notify's goroutine; while it blocks, notifications wait in the
// connection and then in the server's queue, so it must return quickly.
//
// Notify returns ctx's error when ctx is done, or [ErrClosed] when the store is
// closed; it starts no goroutine that outlives it. With WithNotify(false) it
// returns an error matching [store.ErrUnsupported] at once.
func (s *Store) Notify(ctx context.Context, fn func(store.Event)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.cfg.notify {
		return fmt.Errorf("pgstore: notify: writes do not notify (WithNotify(false)): %w", store.ErrUnsupported)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	done := func() error {
		if s.closed.Load() {
			return ErrClosed
		}
		return ctx.Err()
	}

	l := listener{s: s, fn: fn}
	backoff := listenMinBackoff
	for {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return done()
		}
		if l.subscribed {
			backoff = listenMinBackoff // it worked for a while: start over
		}
		l.lost(err)
		// Full jitter keeps a fleet of nodes from reconnecting in step after
		// a database restart.
		wait := backoff/2 + mrand.N(backoff/2+1)
		backoff = min(2*backoff, listenMaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return done()
		case <-t.C:
		}
	}
}

// listener is one Notify call's state.
type listener struct {
	s          *Store
	fn         func(store.Event)
	subscribed bool // the last listen got as far as LISTEN
	lostSent   bool // a Lost was delivered since the last Reset (or the start)
}

// lost reports a failure: a Lost event the first time after a Reset (or
// before the first), and a log line every time.
func (l *listener) lost(err error) {
	l.s.cfg.log.Warn("pgstore: change notifications interrupted; reconnecting", "channel", l.s.n.channel, "err", err)
	if !l.lostSent {
		l.lostSent = true
		l.fn(store.Event{Lost: true})
	}
}

// listen subscribes on a connection of its own and delivers notifications
// until the connection fails, a heartbeat is overdue, or ctx is done.
func (l *listener) listen(ctx context.Context) error {
	s := l.s
	l.subscribed = false
	actx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	pc, err := s.pool.Acquire(actx)
	if err != nil {
		return wrap("listen", err)
	}
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	beat := "tether_heartbeat_" + rand.Text()
	if _, err := conn.Exec(actx, "LISTEN "+s.n.listen+"; LISTEN "+pgx.Identifier{beat}.Sanitize()); err != nil {
		return wrap("listen", err)
	}
	cancel()
	l.subscribed, l.lostSent = true, false
	l.fn(store.Event{Reset: true})

	var (
		sent    int
		pending string // the heartbeat awaited, "" if none
		next    = time.Now().Add(s.cfg.heartbeat)
	)
	for {
		if wait := time.Until(next); wait > 0 {
			wctx, cancel := context.WithTimeout(ctx, wait)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			switch {
			case err == nil:
				if n.Channel == beat {
					if n.Payload == pending {
						pending = ""
						if s.cfg.onHeartbeat != nil {
							s.cfg.onHeartbeat()
						}
					}
				} else {
					l.fn(store.Event{ID: n.Payload})
				}
				continue
			case ctx.Err() != nil:
				return ctx.Err()
			case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
				return wrap("listen", err)
			}
		}
		// Heartbeat time.
		if pending != "" {
			return fmt.Errorf("pgstore: listen: heartbeat not heard back within %v", s.cfg.heartbeat)
		}
		next = time.Now().Add(s.cfg.heartbeat)
		sent++
		pending = strconv.Itoa(sent)
		hctx, cancel := context.WithTimeout(ctx, s.cfg.heartbeat)
		_, err := s.pool.Exec(hctx, "SELECT pg_notify($1, $2)", beat, pending)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return wrap("listen: heartbeat", err)
		}
	}
}
