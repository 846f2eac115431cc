package redisstore_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// Review: random sequences of changes through the fast path (with fresh,
// stale and retried Bases, writes injected between miss and retry, touches,
// other writers that leave pairs out of key order) against the same
// sequence through WithoutFastCommit on a second key. After each step the
// results, errors and loads must agree.
func TestReviewFastDifferential(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	t.Run("default", func(t *testing.T) { reviewFastDifferential(t, client) })
	// Small limits: refusals for size, and declines for the fast path's
	// cap, on both sides of the limits.
	t.Run("small limits", func(t *testing.T) {
		reviewFastDifferential(t, client, redisstore.WithMaxRecordSize(4000), redisstore.WithFastCommitMax(2500))
	})
}

func TestReviewFastDifferentialCluster(t *testing.T) {
	cluster := testserver.RedisCluster(t)
	client := newClusterClient(t, cluster.Addrs())
	reviewFastDifferential(t, client)
}

func reviewFastDifferential(t *testing.T, client redis.UniversalClient, opts ...redisstore.Option) {
	opts = append(opts, stepOne) // so that the two stores' versions compare
	var inject func(id string)
	fast := newStore(t, client, append(opts, redisstore.WithBeforeFastRetry(func(id string) {
		if f := inject; f != nil {
			inject = nil
			f(id)
		}
	}))...)
	slow := newStore(t, client, append(opts, redisstore.WithPrefix(fast.KeyPrefix()), redisstore.WithoutFastCommit())...)
	ctx := t.Context()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	keys := []string{"", "a", "b", "k", "z", strings.Repeat("K", 130), strings.Repeat("\xff", 200), "m\x00n"}
	val := func() []byte {
		switch r.IntN(6) {
		case 0:
			return nil
		case 1:
			return []byte{}
		case 2:
			return []byte(strings.Repeat("v", 127+r.IntN(3)))
		case 3:
			return []byte(strings.Repeat("w", 1000+r.IntN(3000)))
		}
		return []byte(fmt.Sprint(r.IntN(100)))
	}
	base := time.UnixMilli(time.Now().UnixMilli())
	randChange := func() store.Change {
		c := store.Change{Mode: store.Update}
		for range r.IntN(4) {
			if c.Set == nil {
				c.Set = map[string][]byte{}
			}
			c.Set[keys[r.IntN(len(keys))]] = val()
		}
		for range r.IntN(3) {
			c.Delete = append(c.Delete, keys[r.IntN(len(keys))])
		}
		if r.IntN(10) == 0 {
			c.Clear = true
		}
		if r.IntN(5) == 0 {
			c.SetAttrs = true
			if r.IntN(2) == 0 {
				c.Attrs = map[string]string{"d": fmt.Sprint(r.IntN(9)), strings.Repeat("A", 150): "x"}
			}
		}
		switch r.IntN(4) {
		case 0:
			c.LastSeen, c.Expires = base.Add(time.Duration(r.IntN(1000))*time.Millisecond), base.Add(time.Hour+time.Duration(r.IntN(1000))*time.Millisecond)
		case 1:
			c.LastSeen = base.Add(time.Second)
		case 2:
			c.Expires = base.Add(2 * time.Hour)
		}
		if r.IntN(4) == 0 {
			// LiveAt around the stored expiry: sometimes refused.
			c.LiveAt = base.Add(time.Hour + time.Duration(r.IntN(3000)-1000)*time.Millisecond)
		}
		return c
	}
	for run := range 30 {
		fid, sid := newID(), newID()
		create := store.Change{Mode: store.Create, Created: base, LastSeen: base, Expires: base.Add(time.Hour),
			Set: map[string][]byte{"a": []byte("1"), "k": []byte("2")}, UserID: "u", Attrs: map[string]string{"d": "p"}}
		for _, p := range []struct {
			s  *redisstore.Store
			id string
		}{{fast, fid}, {slow, sid}} {
			if _, err := p.s.Commit(ctx, p.id, create); err != nil {
				t.Fatal(err)
			}
		}
		var history []*store.Record
		load := func() *store.Record {
			rec, err := fast.Load(ctx, fid)
			if err != nil {
				t.Fatal(err)
			}
			history = append(history, rec)
			return rec
		}
		load()
		for step := range 40 {
			what := ""
			switch r.IntN(8) {
			case 0: // another writer on both (commit script): pairs out of key order
				c := randChange()
				c.LiveAt = time.Time{}
				rf, ef := slow.Commit(ctx, fid, c)
				rs, es := slow.Commit(ctx, sid, c)
				what = fmt.Sprintf("other %+v", c)
				if rf != rs || (ef == nil) != (es == nil) {
					t.Fatalf("run %d step %d %s: %v %v / %v %v", run, step, what, rf, ef, rs, es)
				}
			case 1: // touch both
				ls, ex := base.Add(time.Duration(r.IntN(5000))*time.Millisecond), base.Add(time.Hour+time.Duration(r.IntN(5000))*time.Millisecond)
				ef, es := fast.Touch(ctx, fid, ls, ex), slow.Touch(ctx, sid, ls, ex)
				what = "touch"
				if (ef == nil) != (es == nil) {
					t.Fatalf("run %d step %d touch: %v / %v", run, step, ef, es)
				}
			default:
				c := randChange()
				var b *store.Record
				switch r.IntN(4) {
				case 0:
				case 1:
					b = history[r.IntN(len(history))]
				default:
					b = history[len(history)-1]
				}
				var injected store.Change
				hasInject := false
				var injErr error
				if r.IntN(4) == 0 {
					hasInject = true
					injected = randChange()
					injected.LiveAt = time.Time{}
					inject = func(id string) {
						_, injErr = slow.Commit(ctx, id, injected)
					}
				}
				cf := c
				cf.Base = b
				rf, ef := fast.Commit(ctx, fid, cf)
				if inject == nil && hasInject {
					// The hook ran: the slow side gets it first too.
					if _, err := slow.Commit(ctx, sid, injected); (err == nil) != (injErr == nil) {
						t.Fatalf("injected: %v / %v", injErr, err)
					}
				}
				inject = nil
				rs, es := slow.Commit(ctx, sid, c)
				what = fmt.Sprintf("commit base v%d %+v", func() uint64 {
					if b == nil {
						return 0
					}
					return b.Version
				}(), c)
				if rf != rs {
					g, _ := fast.Load(ctx, fid)
					gs, _ := slow.Load(ctx, sid)
					t.Logf("base %s\ninjected %v\nfast before %s\nfast after %s\nslow after %s\nstats %+v", short(b), hasInject, short(history[len(history)-1]), short(g), short(gs), fast.Stats())
				}
				if rf != rs || (ef == nil) != (es == nil) || (ef != nil && (errors.Is(ef, store.ErrNotFound) != errors.Is(es, store.ErrNotFound) || fmt.Sprint(ef) != fmt.Sprint(es))) {
					t.Fatalf("run %d step %d %s:\nfast %v %v\nslow %v %v", run, step, what, rf, ef, rs, es)
				}
			}
			gf := load()
			gs, err := slow.Load(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			if gf == nil || gs == nil {
				if (gf == nil) != (gs == nil) {
					t.Fatalf("run %d step %d %s: fast %v slow %v", run, step, what, gf, gs)
				}
				break
			}
			if !reflect.DeepEqual(gf.Values.Map(), gs.Values.Map()) || gf.UserID != gs.UserID || !maps.Equal(gf.Attrs, gs.Attrs) ||
				gf.Version != gs.Version || !gf.Created.Equal(gs.Created) || !gf.LastSeen.Equal(gs.LastSeen) || !gf.Expires.Equal(gs.Expires) {
				t.Fatalf("run %d step %d %s:\nfast %+v\nslow %+v", run, step, what, gf, gs)
			}
			pf := client.PExpireTime(ctx, fast.KeyPrefix()+"s:"+fid).Val()
			ps := client.PExpireTime(ctx, fast.KeyPrefix()+"s:"+sid).Val()
			if pf != ps {
				t.Fatalf("run %d step %d %s: key expiry %v / %v", run, step, what, pf, ps)
			}
		}
	}
	t.Logf("stats %+v", fast.Stats())
}

func short(r *store.Record) string {
	if r == nil {
		return "nil"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v%d user=%q ls=%d ex=%d attrs=%d {", r.Version, r.UserID, r.LastSeen.UnixMilli(), r.Expires.UnixMilli(), len(r.Attrs))
	for k, v := range r.Values.All() {
		if len(k) > 8 {
			k = fmt.Sprintf("%.3q..%d", k, len(k))
		}
		if len(v) > 8 {
			v = []byte(fmt.Sprintf("%.3s..%d", v, len(v)))
		}
		fmt.Fprintf(&b, "%q:%q ", k, v)
	}
	return b.String() + "}"
}

func shortc(c store.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "clear=%v del=%q attrs=%v ls=%d ex=%d liveat=%d set{", c.Clear, c.Delete, c.SetAttrs, c.LastSeen.UnixMilli(), c.Expires.UnixMilli(), c.LiveAt.UnixMilli())
	for k, v := range c.Set {
		if len(k) > 8 {
			k = fmt.Sprintf("%.3q..%d", k, len(k))
		}
		if len(v) > 8 {
			v = []byte(fmt.Sprintf("%.3s..%d", v, len(v)))
		}
		fmt.Fprintf(&b, "%q:%q ", k, v)
	}
	return b.String() + "}"
}
