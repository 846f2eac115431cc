package redisstore_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// Review: a session of the previous layout (a hash) loaded and committed
// with its record as the Base, through the fast path and without it, with
// another write in between or not: both leave the same record.
func TestReviewFastCommitOnLegacyHash(t *testing.T) {
	for _, between := range []bool{false, true} {
		e := newLegacyEnv(t)
		// Steps of one, so that the two stores' versions compare.
		fast := newStore(t, e.client, stepOne, redisstore.WithPrefix("tether:"))
		slow := newStore(t, e.client, stepOne, redisstore.WithPrefix("tether:"), redisstore.WithoutFastCommit())
		ctx := t.Context()
		fid, sid := newID(), newID()
		values := map[string]string{"a": "1", "b": "2"}
		e.hash(fid, "u1", values, "")
		e.hash(sid, "u1", values, "")
		base, err := e.s.Load(ctx, fid)
		if err != nil || base == nil {
			t.Fatal(base, err)
		}
		if between {
			for _, id := range []string{fid, sid} {
				if _, err := slow.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"c": []byte("3")}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		c := store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("9")}, Delete: []string{"b"}, LiveAt: e.now,
			LastSeen: e.now.Add(time.Second), Expires: e.now.Add(2 * time.Hour)}
		cf := c
		cf.Base = base
		rf, ef := fast.Commit(ctx, fid, cf)
		rs, es := slow.Commit(ctx, sid, c)
		if rf != rs || (ef == nil) != (es == nil) {
			t.Fatalf("between=%v: fast %v %v, slow %v %v", between, rf, ef, rs, es)
		}
		gf, _ := e.s.Load(ctx, fid)
		gs, _ := slow.Load(ctx, sid)
		if !reflect.DeepEqual(gf.Values.Map(), gs.Values.Map()) || gf.Version != gs.Version || gf.UserID != gs.UserID ||
			!gf.Expires.Equal(gs.Expires) || !gf.LastSeen.Equal(gs.LastSeen) || !gf.Created.Equal(gs.Created) {
			t.Errorf("between=%v:\nfast %+v\nslow %+v", between, gf, gs)
		}
		t.Logf("between=%v: %+v", between, fast.Stats())
	}
}
