package redisstore_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// seedRecord creates a record under id and returns it as loaded.
func seedRecord(t *testing.T, s *redisstore.Store, id string) *store.Record {
	t.Helper()
	now := time.Now()
	c := store.Change{Mode: store.Create, Created: now.Add(-time.Minute), LastSeen: now, Expires: now.Add(time.Hour),
		Set:    map[string][]byte{"a": []byte("1"), "b": []byte(strings.Repeat("x", 200)), "n": []byte("0")},
		UserID: "u" + randHex(4), Attrs: map[string]string{"device": "phone"}}
	if _, err := s.Commit(t.Context(), id, c); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(t.Context(), id)
	if err != nil || rec == nil {
		t.Fatal(rec, err)
	}
	return rec
}

func sameRecord(a, b *store.Record) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(a.Values.Map(), b.Values.Map()) && a.UserID == b.UserID && maps.Equal(a.Attrs, b.Attrs) &&
		a.Version == b.Version && a.Created.Equal(b.Created) && a.LastSeen.Equal(b.LastSeen) && a.Expires.Equal(b.Expires)
}

// stepOne makes a store raise versions by one, as two stores whose versions
// a test compares must.
var stepOne = redisstore.WithVersionStep(func() uint64 { return 1 })

// A commit with a Base leaves exactly what one without leaves, expiry
// included, and the fast path applies it.
func TestFastCommitMatchesSlow(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	// Steps of one, so that the two stores' versions compare.
	fast := newStore(t, client, stepOne)
	slow := newStore(t, client, stepOne, redisstore.WithPrefix(fast.KeyPrefix()), redisstore.WithoutFastCommit())
	now := time.Now()
	changes := map[string]store.Change{
		"set one":        {Set: map[string][]byte{"n": []byte("1")}},
		"set new":        {Set: map[string][]byte{"0first": []byte("z"), "zz": []byte("y")}},
		"delete":         {Delete: []string{"a", "missing"}},
		"delete and set": {Delete: []string{"a"}, Set: map[string][]byte{"a": []byte("2")}},
		"clear":          {Clear: true, Set: map[string][]byte{"c": []byte("3")}},
		"attrs":          {SetAttrs: true, Attrs: map[string]string{"device": "tablet", "ua": "x"}},
		"attrs removed":  {SetAttrs: true},
		"times":          {Set: map[string][]byte{"n": []byte("1")}, LiveAt: now, LastSeen: now.Add(time.Second), Expires: now.Add(2 * time.Hour)},
		"long value":     {Set: map[string][]byte{"b": []byte(strings.Repeat("y", 300))}},
	}
	for name, c := range changes {
		t.Run(name, func(t *testing.T) {
			c.Mode = store.Update
			fid, sid := newID(), newID()
			base := seedRecord(t, fast, fid)
			seedRecord(t, slow, sid)
			// Same content under both IDs but the user and times: copy
			// them over so the records compare.
			before, _ := fast.FastCommits()
			cf := c
			cf.Base = base
			rf, err := fast.Commit(t.Context(), fid, cf)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := fast.FastCommits(); after != before+1 {
				t.Errorf("the fast path did not apply the commit")
			}
			rs, err := slow.Commit(t.Context(), sid, c)
			if err != nil {
				t.Fatal(err)
			}
			if rf != rs {
				t.Errorf("results %v and %v", rf, rs)
			}
			gf, _ := fast.Load(t.Context(), fid)
			gs, _ := slow.Load(t.Context(), sid)
			sExp := gs.Expires
			gs.UserID, gs.Created, gs.LastSeen, gs.Expires = gf.UserID, gf.Created, gf.LastSeen, gf.Expires
			if c.Expires.IsZero() && !(gf.Expires.Equal(base.Expires) && gf.LastSeen.Equal(base.LastSeen)) {
				t.Errorf("times not kept: %v %v, want %v %v", gf.LastSeen, gf.Expires, base.LastSeen, base.Expires)
			}
			if !c.Expires.IsZero() && !(gf.Expires.UnixMilli() == c.Expires.UnixMilli() && gf.LastSeen.UnixMilli() == c.LastSeen.UnixMilli()) {
				t.Errorf("times not set: %v %v", gf.LastSeen, gf.Expires)
			}
			if !sameRecord(gf, gs) {
				t.Errorf("fast %+v\nslow %+v", gf, gs)
			}
			if gf.UserID != base.UserID || !gf.Created.Equal(base.Created) {
				t.Errorf("user or created changed: %+v", gf)
			}
			pf := client.PExpireTime(t.Context(), fast.KeyPrefix()+"s:"+fid).Val()
			ps := client.PExpireTime(t.Context(), fast.KeyPrefix()+"s:"+sid).Val()
			if pf.Milliseconds() != gf.Expires.UnixMilli() || ps.Milliseconds() != sExp.UnixMilli() {
				t.Errorf("key expiry %d (fast), %d (slow); records' expiry %d, %d", pf.Milliseconds(), ps.Milliseconds(), gf.Expires.UnixMilli(), sExp.UnixMilli())
			}
		})
	}
}

// A Base that is not what is stored (another write came in between, a
// Touch) is no error: the commit applies as without it, on top of the other
// write.
func TestFastCommitStaleBase(t *testing.T) {
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()))
	for _, other := range []string{"commit", "touch"} {
		t.Run(other, func(t *testing.T) {
			id := newID()
			base := seedRecord(t, s, id)
			switch other {
			case "commit":
				if _, err := s.Commit(t.Context(), id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("other")}}); err != nil {
					t.Fatal(err)
				}
			case "touch":
				if err := s.Touch(t.Context(), id, time.Now(), time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			_, missed := s.FastCommits()
			res, err := s.Commit(t.Context(), id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("1")}, Base: base})
			if err != nil || res.Before() <= base.Version {
				t.Fatalf("commit on a stale base: %v, %v; want it applied to the record written after version %d", res, err, base.Version)
			}
			if _, m := s.FastCommits(); m != missed+1 {
				t.Errorf("the fast path did not miss")
			}
			got, _ := s.Load(t.Context(), id)
			if n, _ := got.Values.Lookup("n"); string(n) != "1" {
				t.Errorf("n = %q", n)
			}
			if a, _ := got.Values.Lookup("a"); other == "commit" && string(a) != "other" {
				t.Errorf("the other write's a = %q was lost", a)
			}
		})
	}
}

// The fast path refuses nothing the commit script would not: a tombstone,
// a missing record, a size over the limit, a late write, each with the
// commit script's error.
func TestFastCommitRefusals(t *testing.T) {
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()), redisstore.WithMaxRecordSize(1000))
	up := func(base *store.Record, set map[string][]byte) store.Change {
		return store.Change{Mode: store.Update, Set: set, Base: base}
	}
	one := map[string][]byte{"n": []byte("1")}

	id := newID()
	base := seedRecord(t, s, id)
	if err := s.Move(t.Context(), id, store.Moved{To: newID(), Sealed: []byte("x")}, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(t.Context(), id, up(base, one)); !errors.As(err, new(*store.MovedError)) {
		t.Errorf("tombstone: %v", err)
	}

	id = newID()
	base = seedRecord(t, s, id)
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(t.Context(), id, up(base, one)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}

	id = newID()
	base = seedRecord(t, s, id)
	if _, err := s.Commit(t.Context(), id, up(base, map[string][]byte{"big": []byte(strings.Repeat("x", 800))})); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	c := up(base, one)
	c.LiveAt = base.Expires
	if _, err := s.Commit(t.Context(), id, c); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LiveAt at the expiry: %v", err)
	}
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	// A deadline already past fails before the round trip (begin); the
	// script's own check is the one of TestLateWritesDoNotApply.
	if _, err := s.Commit(ctx, id, up(base, one)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("late: %v", err)
	}
	if got, _ := s.Load(t.Context(), id); got.Version != base.Version {
		t.Errorf("a refused commit wrote: version %d, want %d", got.Version, base.Version)
	}
}

// A fast commit whose reply was lost is resent by go-redis: the resend finds
// the record it wrote, misses, and the retry applies the same delta to it
// again. The values converge, and the result says the commit applied to a
// later record than the Base.
func TestFastCommitReplyLost(t *testing.T) {
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	s := newStore(t, newClient(t, p.Addr()))
	id := newID()
	base := seedRecord(t, s, id)
	// Load the script first: the reply to lose is the one of a run.
	if _, err := s.Commit(t.Context(), id, store.Change{Mode: store.Update, Set: map[string][]byte{"w": []byte("1")}, Base: base}); err != nil {
		t.Fatal(err)
	}
	base, _ = s.Load(t.Context(), id)
	p.LoseReplyTo(redisstore.FastCommitScriptHash())
	res, err := s.Commit(t.Context(), id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("7")}, Delete: []string{"a"}, Base: base})
	if p.Lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.Lost())
	}
	if err != nil || res.Before() <= base.Version {
		t.Fatalf("commit with its reply lost: %v, %v; want it applied to the record the first run wrote, after version %d", res, err, base.Version)
	}
	got, _ := s.Load(t.Context(), id)
	if got.Version != res.Version {
		t.Errorf("stored version %d, the commit said %d", got.Version, res.Version)
	}
	want := maps.Clone(base.Values.Map())
	delete(want, "a")
	want["n"] = []byte("7")
	if !reflect.DeepEqual(got.Values.Map(), want) {
		t.Errorf("values %v, want %v", got.Values.Map(), want)
	}
}
