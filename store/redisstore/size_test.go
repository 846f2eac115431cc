package redisstore_test

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// The size the commit script counts stays exact over every kind of change
// (a refused commit reports it): replacing a value by a smaller or larger one, empty values, deletes
// of absent, repeated and also-set keys, clears, user ids set and removed,
// attributes replaced, kept (through clears too) and removed.
// And the limit refuses exactly the commits that would exceed it, with the
// size they would have had, writing nothing. A model (store.Change.Apply)
// says what every step should leave.
func TestSizeAccounting(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	const limit = 400
	s := newStore(t, client, redisstore.WithMaxRecordSize(limit), redisstore.WithPrefix("size:"))
	ctx := t.Context()
	id := newID()
	now := time.Now()
	values := map[string][]byte{"a": []byte("1"), "bb": {}}
	user := "u1"
	var attrs map[string]string
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: user, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: maps.Clone(values)}); err != nil {
		t.Fatal(err)
	}

	keys := []string{"a", "bb", "ccc", "", "v:x", "m:n"}
	users := []string{"", "u1", "a-longer-user-id"}
	r := rand.New(rand.NewPCG(7, 7))
	pick := func() []byte { return bytes.Repeat([]byte("x"), []int{0, 1, 5, 40, 90, 150}[r.IntN(6)]) }
	refused := 0
	for step := range 1000 {
		c := store.Change{Mode: store.Update, Clear: r.IntN(10) == 0, Set: map[string][]byte{}}
		for range r.IntN(4) {
			c.Delete = append(c.Delete, keys[r.IntN(len(keys))])
		}
		for range r.IntN(4) {
			c.Set[keys[r.IntN(len(keys))]] = pick()
		}
		if r.IntN(5) == 0 {
			c.SetUserID, c.UserID = true, users[r.IntN(len(users))]
		}
		if r.IntN(5) == 0 {
			c.SetAttrs, c.Attrs = true, map[string]string{}
			for range r.IntN(3) {
				c.Attrs[keys[r.IntN(len(keys))]] = string(pick())
			}
		}
		want := c.Apply(store.ValuesOf(values)).Map()
		wantUser, wantAttrs := user, attrs
		if c.SetUserID {
			wantUser = c.UserID
		}
		if c.SetAttrs {
			wantAttrs = c.Attrs
		}
		size := len(wantUser)
		for k, v := range want {
			size += len(k) + len(v)
		}
		for k, v := range wantAttrs {
			size += len(k) + len(v)
		}
		// A change over the limit by itself is refused before the server
		// sees it, with its own size.
		reported, alone := size, len(c.UserID)
		for k, v := range c.Set {
			alone += len(k) + len(v)
		}
		for k, v := range c.Attrs {
			alone += len(k) + len(v)
		}
		if alone > limit {
			reported = alone
		}

		_, err := s.Commit(ctx, id, c)
		var tl *store.TooLargeError
		switch {
		case size > limit:
			if !errors.As(err, &tl) || tl.Size != reported || tl.Limit != limit {
				t.Fatalf("step %d: %+v over the limit (%d bytes): %v, want TooLargeError{%d, %d}", step, c, size, err, reported, limit)
			}
			if alone <= limit {
				refused++
			}
		case err != nil:
			t.Fatalf("step %d: %+v: %v", step, c, err)
		default:
			values, user, attrs = want, wantUser, wantAttrs
		}

		rec, err := s.Load(ctx, id)
		if err != nil || rec == nil {
			t.Fatalf("step %d: load: %v, %v", step, rec, err)
		}
		if !maps.EqualFunc(rec.Values.Map(), values, bytes.Equal) || rec.UserID != user || !maps.Equal(rec.Attrs, attrs) {
			t.Fatalf("step %d: after %+v the record holds %q, user %q, attributes %q; want %q, user %q, attributes %q",
				step, c, rec.Values, rec.UserID, rec.Attrs, values, user, attrs)
		}
	}
	if refused < 10 {
		t.Errorf("the server refused %d commits over the limit: too few to test it", refused)
	}
}

// Changes of thousands of keys, past what one Lua unpack can pass to a
// command, to a record of thousands: the script's walk keeps, replaces,
// deletes and adds each one right.
func TestLargeChanges(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := newStore(t, client, redisstore.WithPrefix("large:"))
	ctx := t.Context()
	id := newID()
	now := time.Now()
	keys := func(from, to int) map[string][]byte {
		m := map[string][]byte{}
		for i := from; i < to; i++ {
			m["key-"+strconv.Itoa(i)] = []byte(strconv.Itoa(i * 7))
		}
		return m
	}
	values := keys(0, 3000)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: maps.Clone(values)}); err != nil {
		t.Fatal(err)
	}
	check := func(step string, c store.Change) {
		t.Helper()
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		values = c.Apply(store.ValuesOf(values)).Map()
		rec, err := s.Load(ctx, id)
		if err != nil || rec == nil {
			t.Fatalf("%s: load: %v, %v", step, rec, err)
		}
		if !maps.EqualFunc(rec.Values.Map(), values, bytes.Equal) {
			t.Fatalf("%s: %d values, want %d", step, rec.Values.Len(), len(values))
		}
	}
	var del []string
	for i := 1000; i < 2500; i++ {
		del = append(del, "key-"+strconv.Itoa(i))
	}
	set := keys(2000, 6001) // some deleted too (set wins), some replaced, some new
	for k := range set {
		set[k] = append(set[k], 'x')
	}
	check("update", store.Change{Mode: store.Update, LastSeen: now, Expires: now.Add(time.Hour), Delete: del, Set: set})
	check("clear", store.Change{Mode: store.Update, Clear: true, Set: keys(10000, 11200)})
}
