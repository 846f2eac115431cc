package redisstore_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// Review: hostile stored strings reached by the fast path's retry (the
// script replies with any 'r' string up to 8 KiB, and Go decodes it). A
// mutated record under two keys: a commit with a stale Base through the
// fast path and one through the commit script must agree (no panic, same
// error or same outcome).
func TestReviewFastRetryHostile(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	fast := newStore(t, client, stepOne)
	slow := newStore(t, client, stepOne, redisstore.WithPrefix(fast.KeyPrefix()), redisstore.WithoutFastCommit())
	ctx := t.Context()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	id0 := newID()
	base := seedRecord(t, fast, id0)
	raw := client.Get(ctx, fast.KeyPrefix()+"s:"+id0).Val()
	for i := range 2000 {
		b := []byte(raw)
		for range 1 + r.IntN(3) {
			switch r.IntN(4) {
			case 0:
				b[r.IntN(len(b))] = byte(r.IntN(256))
			case 1:
				if len(b) > 41 {
					b = b[:41+r.IntN(len(b)-41)]
				}
			case 2:
				p := 41 + r.IntN(len(b)-40)
				if p > len(b) {
					p = len(b)
				}
				ins := []byte{byte(r.IntN(256)), byte(r.IntN(256))}
				b = append(b[:p:p], append(ins, b[p:]...)...)
			case 3:
				b[r.IntN(min(41, len(b)))] = byte(r.IntN(256))
			}
		}
		b[0] = 'r'
		if len(b) >= 9 && binary.BigEndian.Uint64(b[1:9]) >= 1<<53 {
			continue // TestReviewFastVersionPast2To53
		}
		fid, sid := newID(), newID()
		for _, id := range []string{fid, sid} {
			if err := client.Set(ctx, fast.KeyPrefix()+"s:"+id, b, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
		c := store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("v")}, Delete: []string{"a"}}
		if r.IntN(2) == 0 {
			c.SetAttrs, c.Attrs = true, map[string]string{"x": "y"}
		}
		cf := c
		cf.Base = base
		var rf store.Result
		var ef error
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("case %d: panic %v on %q", i, p, b)
				}
			}()
			rf, ef = fast.Commit(ctx, fid, cf)
		}()
		rs, es := slow.Commit(ctx, sid, c)
		norm := func(err error, id string) string {
			return strings.ReplaceAll(fmt.Sprint(err), id[:12], "ID")
		}
		if rf != rs || norm(ef, fid) != norm(es, sid) {
			t.Fatalf("case %d %q:\nfast %v %v\nslow %v %v", i, b, rf, ef, rs, es)
		}
		gf, lf := fast.Load(ctx, fid)
		gs, ls := slow.Load(ctx, sid)
		if norm(lf, fid) != norm(ls, sid) {
			t.Fatalf("case %d %q: loads %v / %v", i, b, lf, ls)
		}
		if gf != nil && gs != nil && (!reflect.DeepEqual(gf.Values.Map(), gs.Values.Map()) || gf.Version != gs.Version ||
			gf.UserID != gs.UserID || !reflect.DeepEqual(gf.Attrs, gs.Attrs) || !gf.Expires.Equal(gs.Expires) || !gf.LastSeen.Equal(gs.LastSeen) || !gf.Created.Equal(gs.Created)) {
			t.Fatalf("case %d %q:\nfast %+v\nslow %+v", i, b, gf, gs)
		}
	}
	t.Logf("%+v", fast.Stats())
}

// Review: a stored version at or past 2^53 (a corrupt or hostile header;
// Lua's numbers are doubles). The commit script computes ver+1 in a double:
// at 2^53 it writes and replies 2^53 again (the version does not change),
// above it a rounded number. The fast path writes and replies the exact
// b.Version+1: the two paths disagree, where the fast path must behave
// exactly like the commit script. fastArgs guards b.Version >= MaxInt64;
// the commit script's real bound is 2^53.
func TestReviewFastVersionPast2To53(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	fast := newStore(t, client, stepOne)
	slow := newStore(t, client, stepOne, redisstore.WithPrefix(fast.KeyPrefix()), redisstore.WithoutFastCommit())
	ctx := t.Context()
	for _, v := range []uint64{1 << 53, 1<<53 + 1, 1<<60 + 3} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			id0 := newID()
			seedRecord(t, fast, id0)
			raw := []byte(client.Get(ctx, fast.KeyPrefix()+"s:"+id0).Val())
			binary.BigEndian.PutUint64(raw[1:9], v)
			fid, sid := newID(), newID()
			for _, id := range []string{fid, sid} {
				if err := client.Set(ctx, fast.KeyPrefix()+"s:"+id, raw, time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}
			base, err := fast.Load(ctx, fid)
			if err != nil || base == nil {
				t.Fatal(base, err)
			}
			c := store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("v")}}
			cf := c
			cf.Base = base
			rf, ef := fast.Commit(ctx, fid, cf)
			rs, es := slow.Commit(ctx, sid, c)
			gf, _ := fast.Load(ctx, fid)
			gs, _ := slow.Load(ctx, sid)
			if rf != rs || gf.Version != gs.Version {
				t.Errorf("stored v%d: fast result %v (%v), stored v%d; slow result %v (%v), stored v%d", v, rf, ef, gf.Version, rs, es, gs.Version)
			}
		})
	}
}
