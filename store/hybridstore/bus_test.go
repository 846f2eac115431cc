package hybridstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// bus is a store.Notifier over any store (memstore in these tests): every
// successful write announces its ID to every subscriber, in the order of the
// writes, from a goroutine of the subscriber's Notify (so notifications
// arrive after the write returns, or before, as on a real backend). Writes
// are serialised so that the announcement is part of the write.
type bus struct {
	store.Store

	mu     sync.Mutex // serialises writes with their announcement
	subs   map[*sub]bool
	down   bool // announcements are being lost (between Drop and Restore)
	paused bool // announcements are queued, not delivered (between Pause and Resume)
}

type sub struct {
	mu        sync.Mutex
	queue     []store.Event
	wake      chan struct{}
	sent      int // events queued
	delivered int // events fn returned from
}

func newBus(inner store.Store) *bus {
	return &bus{Store: inner, subs: map[*sub]bool{}}
}

func (b *bus) send(ev store.Event) {
	for s := range b.subs {
		s.mu.Lock()
		s.queue = append(s.queue, ev)
		s.sent++
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (b *bus) announce(id string) {
	if !b.down {
		b.send(store.Event{ID: id})
	}
}

// Drop makes every subscription lose its connection: a Lost, and every
// announcement is missed until Restore.
func (b *bus) Drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = true
	b.send(store.Event{Lost: true})
}

// Pause holds every announcement back until Resume, as a slow network would.
func (b *bus) Pause() {
	b.mu.Lock()
	b.paused = true
	b.mu.Unlock()
}

// Resume delivers what Pause held back, in order.
func (b *bus) Resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.paused = false
	for s := range b.subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Restore re-establishes the subscriptions: a Reset.
func (b *bus) Restore() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = false
	b.send(store.Event{Reset: true})
}

func (b *bus) Notify(ctx context.Context, fn func(store.Event)) error {
	s := &sub{wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.subs[s] = true
	if !b.down {
		s.queue = append(s.queue, store.Event{Reset: true})
		s.sent++
		s.wake <- struct{}{}
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		}
		b.mu.Lock()
		paused := b.paused
		b.mu.Unlock()
		if paused {
			continue // Resume wakes us again
		}
		s.mu.Lock()
		evs := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, ev := range evs {
			fn(ev)
			s.mu.Lock()
			s.delivered++
			s.mu.Unlock()
		}
	}
}

// settle waits until every subscriber has handled every event sent so far.
func (b *bus) settle(t testing.TB) {
	t.Helper()
	eventually(t, 5*time.Second, "the notifications to be delivered", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for s := range b.subs {
			s.mu.Lock()
			done := s.delivered == s.sent
			s.mu.Unlock()
			if !done {
				return false
			}
		}
		return true
	})
}

func (b *bus) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Store.Commit(ctx, id, c)
	if err == nil {
		b.announce(id)
	}
	return res, err
}

func (b *bus) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.Store.Touch(ctx, id, lastSeen, expires)
	if err == nil {
		b.announce(id)
	}
	return err
}

func (b *bus) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.Store.Move(ctx, id, m, expires, ifVersion)
	if err == nil {
		b.announce(id)
	}
	return err
}

func (b *bus) Delete(ctx context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.Store.Delete(ctx, id)
	if err == nil {
		b.announce(id)
	}
	return err
}

func (b *bus) DeleteUser(ctx context.Context, userID string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	infos, err := b.Store.UserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	n, err := b.Store.DeleteUser(ctx, userID)
	for _, in := range infos {
		b.announce(in.ID)
	}
	return n, err
}

var _ store.Notifier = (*bus)(nil)
