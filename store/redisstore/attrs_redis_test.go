package redisstore_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// attrsEnv is a store on its own prefix, with the client to look at its
// sessions, and a second store on the same keys whose size limit refuses
// every commit, reporting the size the commit script counted.
type attrsEnv struct {
	t      *testing.T
	client *redis.Client
	s      *redisstore.Store
	probe  *redisstore.Store
	prefix string
}

func newAttrsEnv(t *testing.T, addr string, opts ...redisstore.Option) *attrsEnv {
	prefix := "a" + randHex(6) + ":"
	client := newClient(t, addr)
	return &attrsEnv{t: t, client: client, s: newStore(t, client, append(opts, redisstore.WithPrefix(prefix))...),
		probe:  newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithMaxRecordSize(1)),
		prefix: prefix}
}

func (e *attrsEnv) create(id, user string, attrs map[string]string) {
	e.t.Helper()
	now := time.Now()
	c := store.Change{Mode: store.Create, UserID: user, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"k": []byte("v")}, SetAttrs: true, Attrs: attrs}
	if _, err := e.s.Commit(e.t.Context(), id, c); err != nil {
		e.t.Fatalf("create: %v", err)
	}
}

func (e *attrsEnv) commit(id string, c store.Change) {
	e.t.Helper()
	if _, err := e.s.Commit(e.t.Context(), id, c); err != nil {
		e.t.Fatalf("commit %+v: %v", c, err)
	}
}

// raw is the session's string.
func (e *attrsEnv) raw(id string) string {
	e.t.Helper()
	b, err := e.client.Get(e.t.Context(), e.prefix+"s:"+id).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// wantSize checks that the commit script counts the record for what it holds
// in the size limit (values, attributes and user id): the probe's commit of
// nothing is refused with that size.
func (e *attrsEnv) wantSize(id, when string) {
	e.t.Helper()
	rec, err := e.s.Load(e.t.Context(), id)
	if err != nil || rec == nil {
		e.t.Fatalf("%s: load: %v, %v", when, rec, err)
	}
	_, err = e.probe.Commit(e.t.Context(), id, store.Change{Mode: store.Update})
	if tl := (*store.TooLargeError)(nil); !errors.As(err, &tl) || tl.Size != rec.Size() {
		e.t.Errorf("%s: the probe's commit: %v; the record takes %d bytes", when, err, rec.Size())
	}
}

// A session's attributes take one string of the session's, empty when there
// are none, holding two bytes of framing per short attribute beyond their
// keys and values. A session without attributes loads and lists without
// them; giving it some counts them exactly in the size limit, whatever the
// length prefixes' widths (one, two, three bytes).
func TestAttrsLayout(t *testing.T) {
	t.Parallel()
	e := newAttrsEnv(t, testserver.Redis(t).Addr())
	ctx := t.Context()
	id, user := newID(), "u-"+randHex(4)
	e.create(id, user, nil)
	plain := e.raw(id)
	if rec, err := e.s.Load(ctx, id); err != nil || len(rec.Attrs) != 0 {
		t.Fatalf("a session without attributes loads with %v, %v", rec, err)
	}
	if infos, err := e.s.UserSessions(ctx, user); err != nil || len(infos) != 1 || len(infos[0].Attrs) != 0 {
		t.Fatalf("a session without attributes lists as %+v, %v", infos, err)
	}

	attrs := map[string]string{"device": "Alice's laptop", "ua": "Mozilla/5.0 (X11; Linux x86_64)", "ip": "2001:db8::1"}
	e.commit(id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs})
	with := e.raw(id)
	size := 0
	for k, v := range attrs {
		size += len(k) + len(v)
	}
	if len(with) != len(plain)+size+2*len(attrs) {
		t.Errorf("the attributes (%d bytes) take %d bytes beyond the %d of the session without them, want %d", size, len(with)-len(plain), len(plain), size+2*len(attrs))
	}
	e.wantSize(id, "after giving an old session attributes")

	for _, n := range []int{0, 127, 128, 300, 16383, 16384, 20000} {
		long := map[string]string{"device": strings.Repeat("x", n), strings.Repeat("k", n%200): "y"}
		e.commit(id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: long})
		e.wantSize(id, "after attributes with a value of "+strconv.Itoa(n)+" bytes")
		e.commit(id, store.Change{Mode: store.Update, Clear: true, Set: map[string][]byte{"k": []byte("v")}})
		e.wantSize(id, "after clearing the values, keeping attributes with a value of "+strconv.Itoa(n)+" bytes")
		if rec, _ := e.s.Load(ctx, id); !maps.Equal(rec.Attrs, long) {
			t.Fatalf("attributes with a value of %d bytes came back as %d attributes", n, len(rec.Attrs))
		}
	}

	e.commit(id, store.Change{Mode: store.Update, SetAttrs: true})
	if b := e.raw(id); len(b) != len(plain) {
		t.Errorf("after removing the attributes the session takes %d bytes, want the %d it took without them", len(b), len(plain))
	}
	e.wantSize(id, "after removing the attributes")
}

// Corrupt attributes (written by something else, or a bug) is ErrCorrupt for Load,
// never a panic; UserSessions lists the session without attributes, so that a
// "your devices" page still shows it and can end it; a commit that keeps the
// attributes still works, and one that replaces them repairs the record.
func TestAttrsCorruptField(t *testing.T) {
	t.Parallel()
	e := newAttrsEnv(t, testserver.Redis(t).Addr())
	ctx := t.Context()
	id, user := newID(), "u-"+randHex(4)
	e.create(id, user, map[string]string{"device": "laptop"})
	for _, bad := range []string{"\x01a", "\x05ab", "\x80", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "\x01b\x011\x01a\x012"} {
		if err := e.client.Set(ctx, e.prefix+"s:"+id, redisstore.WithAttrsOf(e.raw(id), bad), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if rec, err := e.s.Load(ctx, id); !errors.Is(err, redisstore.ErrCorrupt) {
			t.Errorf("attributes %q: Load = %v, %v; want ErrCorrupt", bad, rec, err)
		}
		infos, err := e.s.UserSessions(ctx, user)
		if err != nil || len(infos) != 1 || infos[0].ID != id || infos[0].Attrs != nil {
			t.Errorf("attributes %q: UserSessions = %+v, %v; want the session without attributes", bad, infos, err)
		}
		e.commit(id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("v2")}})
		e.commit(id, store.Change{Mode: store.Update, Clear: true, Set: map[string][]byte{"k": []byte("v")}})
		e.commit(id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: map[string]string{"device": "repaired"}})
		if rec, err := e.s.Load(ctx, id); err != nil || rec.Attrs["device"] != "repaired" {
			t.Fatalf("attributes %q: after replacing the attributes: %v, %v", bad, rec, err)
		}
		e.wantSize(id, "after repairing the attributes")
	}
}

// A commit that replaces the attributes, whose reply is lost: go-redis sends
// it again, the script runs twice, and the record holds the attributes once,
// counted once.
func TestAttrsReplyLost(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	e := newAttrsEnv(t, p.Addr())
	id := newID()
	e.create(id, "", map[string]string{"device": "laptop", "ua": "curl"})
	marker := "marker-" + randHex(8)
	attrs := map[string]string{"device": marker, "label": strings.Repeat("é", 100)}
	p.LoseReplyTo(marker)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := e.s.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs}); err != nil {
		t.Fatalf("commit with a lost reply: %v", err)
	}
	if p.Lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.Lost())
	}
	rec, err := e.s.Load(ctx, id)
	if err != nil || !maps.Equal(rec.Attrs, attrs) || rec.Version <= 1 {
		t.Fatalf("after the resent commit: %+v, %v; want the attributes, a version above the create's", rec, err)
	}
	e.wantSize(id, "after the resent commit")
}

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct {
	n     atomic.Int64
	cmds  atomic.Int64
	names sync.Map // command name -> struct{}
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(1)
		r.names.Store(cmd.Name(), struct{}{})
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(int64(len(cmds)))
		for _, c := range cmds {
			r.names.Store(c.Name(), struct{}{})
		}
		return next(ctx, cmds)
	}
}

// UserSessions returns the attributes in the round trips it makes without
// them: one ZRANGE, one pipeline of a GETRANGE of the first 4 KiB of each
// session, never the values past them.
func TestAttrsUserSessionsRoundTrips(t *testing.T) {
	t.Parallel()
	e := newAttrsEnv(t, testserver.Redis(t).Addr())
	user := "u-" + randHex(4)
	const n = 20
	for i := range n {
		e.create(newID(), user, map[string]string{"device": "d" + strconv.Itoa(i), "ua": strings.Repeat("u", 100)})
	}
	if _, err := e.s.UserSessions(t.Context(), user); err != nil { // warms the pool's connections
		t.Fatal(err)
	}
	var rt roundTrips
	e.client.AddHook(&rt)
	infos, err := e.s.UserSessions(t.Context(), user)
	if err != nil || len(infos) != n {
		t.Fatalf("UserSessions = %d sessions, %v; want %d", len(infos), err, n)
	}
	for _, info := range infos {
		if !strings.HasPrefix(info.Attrs["device"], "d") || len(info.Attrs["ua"]) != 100 {
			t.Errorf("session %.8s listed with attributes %q", info.ID, info.Attrs)
		}
	}
	var names []string
	rt.names.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
	slices.Sort(names)
	if rt.n.Load() != 2 || rt.cmds.Load() != n+1 || !slices.Equal(names, []string{"getrange", "zrange"}) {
		t.Errorf("UserSessions of %d sessions made %d round trips of %d commands %v, want 2 of %d (zrange, getrange)", n, rt.n.Load(), rt.cmds.Load(), names, n+1)
	}
}

// A session whose attributes run past the first 4 KiB that UserSessions
// reads of each is read whole, in one more pipeline, and listed with them;
// the values of the others are never read.
func TestAttrsUserSessionsLongAttributes(t *testing.T) {
	t.Parallel()
	e := newAttrsEnv(t, testserver.Redis(t).Addr())
	user := "u-" + randHex(4)
	long := map[string]string{"device": strings.Repeat("d", 6000)}
	longID, shortID := newID(), newID()
	e.create(longID, user, long)
	e.create(shortID, user, map[string]string{"device": "phone"})
	e.commit(shortID, store.Change{Mode: store.Update, Set: map[string][]byte{"big": make([]byte, 100_000)}})
	if _, err := e.s.UserSessions(t.Context(), user); err != nil { // warms the pool's connections
		t.Fatal(err)
	}
	var rt roundTrips
	e.client.AddHook(&rt)
	infos, err := e.s.UserSessions(t.Context(), user)
	if err != nil || len(infos) != 2 {
		t.Fatalf("UserSessions = %+v, %v; want 2 sessions", infos, err)
	}
	for _, info := range infos {
		want := map[string]string{"device": "phone"}
		if info.ID == longID {
			want = long
		}
		if !maps.Equal(info.Attrs, want) {
			t.Errorf("session %.8s listed with %d bytes of attributes", info.ID, len(info.Attrs["device"]))
		}
	}
	var names []string
	rt.names.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
	slices.Sort(names)
	if rt.n.Load() != 3 || rt.cmds.Load() != 4 || !slices.Equal(names, []string{"get", "getrange", "zrange"}) {
		t.Errorf("UserSessions made %d round trips of %d commands %v, want 3 of 4: zrange, getrange of both, get of the long one", rt.n.Load(), rt.cmds.Load(), names)
	}
}
