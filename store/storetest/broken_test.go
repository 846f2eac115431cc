package storetest_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/tether-go/tether/store"
)

// The broken stores TestSuiteCatchesMutants feeds the suite: each is a correct
// store with one rule of the contract broken, as real backends have broken it.

// resurrect turns an update of a missing record into a create.
type resurrect struct{ broken }

func (b resurrect) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	res, err := b.Store.Commit(ctx, id, c)
	if errors.Is(err, store.ErrNotFound) {
		c.Mode = store.Create
		return b.Store.Commit(ctx, id, c)
	}
	return res, err
}

// overwrite merges in Go and writes the whole record back, with no lock.
type overwrite struct{ broken }

func (b *overwrite) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if c.Mode != store.Update {
		return b.Store.Commit(ctx, id, c)
	}
	rec, err := b.Store.Load(ctx, id)
	if err != nil || rec == nil {
		return b.Store.Commit(ctx, id, c)
	}
	values := c.Apply(rec.Values).Map()
	time.Sleep(time.Millisecond) // the window real networks give
	return b.Store.Commit(ctx, id, store.Change{Mode: store.Update, Clear: true, Set: values, LastSeen: c.LastSeen, Expires: c.Expires})
}

// retain keeps the caller's Set map and serves values from it.
type retain struct {
	broken
	mu   sync.Mutex
	kept map[string]map[string][]byte
}

func (b *retain) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	b.mu.Lock()
	b.kept[id] = c.Set
	b.mu.Unlock()
	return b.Store.Commit(ctx, id, c)
}

func (b *retain) Load(ctx context.Context, id string) (*store.Record, error) {
	rec, err := b.Store.Load(ctx, id)
	if rec == nil || err != nil {
		return rec, err
	}
	r := *rec
	values := rec.Values.Map()
	if values == nil {
		values = make(map[string][]byte)
	}
	b.mu.Lock()
	maps.Copy(values, b.kept[id])
	b.mu.Unlock()
	r.Values = store.ValuesOf(values)
	return &r, nil
}

// mutable hands out one record per ID and updates it in place.
type mutable struct {
	broken
	mu   sync.Mutex
	last map[string]*store.Record
}

func (b *mutable) Load(ctx context.Context, id string) (*store.Record, error) {
	rec, err := b.Store.Load(ctx, id)
	if rec == nil || err != nil {
		return rec, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if r := b.last[id]; r != nil {
		*r = *rec
		return r, nil
	}
	r := *rec
	b.last[id] = &r
	return &r, nil
}

// versionFreeze hides the version bump of Touch.
type versionFreeze struct{ broken }

func (b versionFreeze) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	rec, err := b.Store.Load(ctx, id)
	if err != nil || rec == nil || rec.Moved != nil {
		return b.Store.Touch(ctx, id, lastSeen, expires)
	}
	// Rewrite through a delete and create, which restarts at version 1...
	if err := b.Store.Delete(ctx, id); err != nil {
		return err
	}
	_, err = b.Store.Commit(ctx, id, store.Change{Mode: store.Create, Created: rec.Created, Set: rec.Values.Map(), UserID: rec.UserID, LastSeen: lastSeen, Expires: expires})
	if err != nil {
		return err
	}
	// ...then bumps it back to the old version, not past it.
	for v := uint64(1); v < rec.Version; v++ {
		if _, err := b.Store.Commit(ctx, id, store.Change{Mode: store.Update}); err != nil {
			return err
		}
	}
	return nil
}

// leakyMove returns the moved record's values with its tombstone.
type leakyMove struct {
	broken
	mu     sync.Mutex
	values map[string]store.Values
}

func (b *leakyMove) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	rec, _ := b.Store.Load(ctx, id)
	err := b.Store.Move(ctx, id, m, expires, ifVersion)
	if err == nil && rec != nil {
		b.mu.Lock()
		if b.values == nil {
			b.values = map[string]store.Values{}
		}
		b.values[id] = rec.Values
		b.mu.Unlock()
	}
	return err
}

func (b *leakyMove) Load(ctx context.Context, id string) (*store.Record, error) {
	rec, err := b.Store.Load(ctx, id)
	if rec != nil && rec.Moved != nil {
		r := *rec
		b.mu.Lock()
		r.Values = b.values[id]
		b.mu.Unlock()
		return &r, err
	}
	return rec, err
}

// moveAnyVersion moves whatever the version.
type moveAnyVersion struct{ broken }

func (b moveAnyVersion) Move(ctx context.Context, id string, m store.Moved, expires time.Time, _ uint64) error {
	rec, err := b.Store.Load(ctx, id)
	if err != nil {
		return err
	}
	var v uint64
	if rec != nil {
		v = rec.Version
	}
	return b.Store.Move(ctx, id, m, expires, v)
}

// noSetUser ignores SetUserID on update.
type noSetUser struct{ broken }

func (b noSetUser) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if c.Mode == store.Update {
		c.SetUserID = false
	}
	return b.Store.Commit(ctx, id, c)
}

// miscount counts the index entries, not the live records.
type miscount struct{ broken }

func (b miscount) DeleteUser(ctx context.Context, user string) (int, error) {
	n, err := b.Store.DeleteUser(ctx, user)
	return n + 1, err
}

// noCtx drops the caller's context.
type noCtx struct{ broken }

func (b noCtx) Load(_ context.Context, id string) (*store.Record, error) {
	return b.Store.Load(context.Background(), id)
}

func (b noCtx) Commit(_ context.Context, id string, c store.Change) (store.Result, error) {
	return b.Store.Commit(context.Background(), id, c)
}

// seconds keeps whole seconds.
type seconds struct{ broken }

func (b seconds) Load(ctx context.Context, id string) (*store.Record, error) {
	rec, err := b.Store.Load(ctx, id)
	if rec == nil {
		return rec, err
	}
	r := *rec
	r.Created = r.Created.Truncate(time.Second)
	r.LastSeen = r.LastSeen.Truncate(time.Second)
	return &r, err
}

func (b seconds) UserSessions(ctx context.Context, user string) ([]store.Info, error) {
	infos, err := b.Store.UserSessions(ctx, user)
	for i := range infos {
		infos[i].Created = infos[i].Created.Truncate(time.Second)
	}
	return infos, err
}

// dropEmpty loses empty values.
type dropEmpty struct{ broken }

func (b dropEmpty) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	set := map[string][]byte{}
	for k, v := range c.Set {
		if len(v) > 0 {
			set[k] = v
		}
	}
	c.Set = set
	return b.Store.Commit(ctx, id, c)
}

// noClear ignores Clear.
type noClear struct{ broken }

func (b noClear) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	c.Clear = false
	return b.Store.Commit(ctx, id, c)
}

// badTooLarge refuses big values with an untyped error.
type badTooLarge struct{ broken }

func (b badTooLarge) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	for _, v := range c.Set {
		if len(v) > 128<<10 {
			return store.Result{}, errors.New("value too big")
		}
	}
	return b.Store.Commit(ctx, id, c)
}

// foldKeys lowercases keys, as a case-insensitive column would.
type foldKeys struct{ broken }

func (b foldKeys) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	set := map[string][]byte{}
	for k, v := range c.Set {
		set[strings.ToLower(k)] = v
	}
	c.Set = set
	return b.Store.Commit(ctx, id, c)
}

// prefixUsers treats user ids as patterns, as a careless KEYS or SCAN would:
// "u*" also reaches "u:b".
type prefixUsers struct{ broken }

func (b prefixUsers) UserSessions(ctx context.Context, user string) ([]store.Info, error) {
	infos, err := b.Store.UserSessions(ctx, user)
	if err != nil || !strings.HasSuffix(user, "*") {
		return infos, err
	}
	more, err := b.Store.UserSessions(ctx, strings.TrimSuffix(user, "*")+":b")
	return append(infos, more...), err
}

func (b prefixUsers) DeleteUser(ctx context.Context, user string) (int, error) {
	n, err := b.Store.DeleteUser(ctx, user)
	if err != nil || !strings.HasSuffix(user, "*") {
		return n, err
	}
	m, err := b.Store.DeleteUser(ctx, strings.TrimSuffix(user, "*")+":b")
	return n + m, err
}

// staleTouch writes back the values it loaded along with the new times.
type staleTouch struct{ broken }

func (b staleTouch) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	rec, err := b.Store.Load(ctx, id)
	if err != nil || rec == nil || rec.Moved != nil {
		return b.Store.Touch(ctx, id, lastSeen, expires)
	}
	time.Sleep(time.Millisecond)
	_, err = b.Store.Commit(ctx, id, store.Change{Mode: store.Update, Clear: true, Set: rec.Values.Map(), LastSeen: lastSeen, Expires: expires})
	return err
}

// keepTimes never updates LastSeen on commit.
type keepTimes struct{ broken }

func (b keepTimes) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if c.Mode == store.Update {
		c.LastSeen = time.Time{}
	}
	return b.Store.Commit(ctx, id, c)
}

// notifying is a store.Notifier over the memory store, publishing each write
// after it succeeds. Its flags break it.
type notifying struct {
	broken
	noReset   bool // skip the first Reset event
	skipTouch bool // do not announce touches

	mu   sync.Mutex
	subs map[*func(store.Event)]*sync.Mutex
}

func (n *notifying) Notify(ctx context.Context, fn func(store.Event)) error {
	var serial sync.Mutex
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[*func(store.Event)]*sync.Mutex{}
	}
	n.subs[&fn] = &serial
	n.mu.Unlock()
	if !n.noReset {
		serial.Lock()
		fn(store.Event{Reset: true})
		serial.Unlock()
	}
	<-ctx.Done()
	n.mu.Lock()
	delete(n.subs, &fn)
	n.mu.Unlock()
	return ctx.Err()
}

func (n *notifying) publish(ids ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for fn, serial := range n.subs {
		serial.Lock()
		for _, id := range ids {
			(*fn)(store.Event{ID: id})
		}
		serial.Unlock()
	}
}

func (n *notifying) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	res, err := n.Store.Commit(ctx, id, c)
	if err == nil {
		n.publish(id)
	}
	return res, err
}

func (n *notifying) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	err := n.Store.Touch(ctx, id, lastSeen, expires)
	if err == nil && !n.skipTouch {
		n.publish(id)
	}
	return err
}

func (n *notifying) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	err := n.Store.Move(ctx, id, m, expires, ifVersion)
	if err == nil {
		n.publish(id)
	}
	return err
}

func (n *notifying) Delete(ctx context.Context, id string) error {
	err := n.Store.Delete(ctx, id)
	if err == nil {
		n.publish(id)
	}
	return err
}

func (n *notifying) DeleteUser(ctx context.Context, user string) (int, error) {
	infos, err := n.Store.UserSessions(ctx, user)
	if err != nil {
		return 0, err
	}
	c, err := n.Store.DeleteUser(ctx, user)
	if err == nil {
		for _, in := range infos {
			n.publish(in.ID)
		}
	}
	return c, err
}

// noSetAttrs ignores a change of attributes on update.
type noSetAttrs struct{ broken }

func (b noSetAttrs) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if c.Mode == store.Update {
		c.SetAttrs = false
		if c.Empty() {
			return store.Result{}, nil
		}
	}
	return b.Store.Commit(ctx, id, c)
}

// bareInfos lists a user's sessions without their attributes.
type bareInfos struct{ broken }

func (b bareInfos) UserSessions(ctx context.Context, user string) ([]store.Info, error) {
	infos, err := b.Store.UserSessions(ctx, user)
	for i := range infos {
		infos[i].Attrs = nil
	}
	return infos, err
}
