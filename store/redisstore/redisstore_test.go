package redisstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
	"github.com/tether-go/tether/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newClient returns a client of a single server, closed when the test ends.
// ContextTimeoutEnabled makes go-redis honour the caller's deadlines, as the
// package documentation asks.
func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

func newClusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore returns a store with a prefix (and so a channel) of its own,
// closed when the test ends.
func newStore(t testing.TB, c redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	opts = append([]redisstore.Option{redisstore.WithPrefix("t" + randHex(6) + ":")}, opts...)
	s := redisstore.New(c, opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newID() string { return randHex(32) }

// versionOf is the stored version of id's record: versions step by random
// amounts, so a test that moves a record at its version asks for it.
func versionOf(t testing.TB, s *redisstore.Store, id string) uint64 {
	t.Helper()
	v, err := s.Version(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The slow tests, each on servers of its own, run in parallel with each other
// (and after the timing-sensitive tests, which are not parallel).
func TestConformance(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, client) },
		storetest.WithNode(func(t *testing.T, s store.Store, now func() time.Time) store.Store {
			return newStore(t, client, redisstore.WithPrefix(s.(*redisstore.Store).KeyPrefix()), redisstore.WithClock(now))
		}),
		storetest.WithDuringUserSessions(func(t *testing.T, s store.Store, during func()) store.Store {
			return newStore(t, client, redisstore.WithPrefix(s.(*redisstore.Store).KeyPrefix()), redisstore.WithAfterEntries(during))
		}))
}

// A Ring (client-side sharding over independent servers) works too, but for
// Notify.
func TestConformanceRing(t *testing.T) {
	t.Parallel()
	a, b := testserver.Redis(t), testserver.Redis(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { ring.Close() })
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, ring) }, storetest.WithSkip("Capabilities/Notifier"))
}

// TestCluster runs everything that needs a Cluster on one, since starting
// one takes seconds.
func TestCluster(t *testing.T) {
	t.Parallel()
	cluster := testserver.RedisCluster(t)
	client := newClusterClient(t, cluster.Addrs())
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, client) })
	})
	t.Run("HostileNames", func(t *testing.T) { testClusterHostileNames(t, client) })
	t.Run("Notify", func(t *testing.T) { testNotifyCluster(t, client) })
	t.Run("HeartbeatEveryMaster", func(t *testing.T) { testHeartbeatEveryMaster(t, client) })
	t.Run("Deadline", func(t *testing.T) { testClusterDeadline(t, client) })
	t.Run("Policy", func(t *testing.T) { testClusterPolicy(t, client) })
}

// Hostile user ids and IDs in a Cluster: braces make a hash tag, and none
// may send two commands of one operation to different slots, or let one
// user's index reach another's.
func testClusterHostileNames(t *testing.T, client *redis.ClusterClient) {
	s := newStore(t, client, redisstore.WithPrefix("{p}x:"))
	ctx := t.Context()
	users := []string{"{", "}", "{}", "{a}", "a{b}c", "}{", "{{x}}", "{" + strings.Repeat("z", 300) + "}", "alice"}
	ids := map[string]string{}
	now := time.Now()
	for _, u := range users {
		id := newID()
		ids[u] = id
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: u, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"u": []byte(u)}}); err != nil {
			t.Fatalf("create for %q: %v", u, err)
		}
	}
	// IDs with braces, too: the manager never makes them, but a store must
	// not break on them.
	for _, id := range []string{"{x}", "}{", "{" + newID() + "}"} {
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "alice", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatalf("create %q: %v", id, err)
		}
		ids["alice/"+id] = id
		if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.UserID != "alice" {
			t.Fatalf("load %q: %v, %v", id, rec, err)
		}
	}
	for _, u := range users {
		infos, err := s.UserSessions(ctx, u)
		if err != nil {
			t.Fatalf("UserSessions(%q): %v", u, err)
		}
		want := 1
		if u == "alice" {
			want = 4
		}
		if len(infos) != want {
			t.Errorf("UserSessions(%q) = %d sessions, want %d", u, len(infos), want)
		}
	}
	for _, u := range users {
		n, err := s.DeleteUser(ctx, u)
		if err != nil {
			t.Fatalf("DeleteUser(%q): %v", u, err)
		}
		if want := map[bool]int{true: 4, false: 1}[u == "alice"]; n != want {
			t.Errorf("DeleteUser(%q) = %d, want %d", u, n, want)
		}
	}
	for k, id := range ids {
		if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.Moved == nil {
			t.Errorf("%s: after DeleteUser: %+v, %v; want a tombstone", k, rec, err)
		}
	}
}

// The data model as documented: one string per session (see layout.go), its
// expiry as the key's TTL; a changed value keeps its place and a new key goes
// at the end; the index entry's score in the header.
func TestDataModel(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false))
	defer s.Close()
	ctx := t.Context()
	id := newID()
	now := time.UnixMilli(time.Now().UnixMilli())
	c := store.Change{Mode: store.Create, UserID: "bob", Created: now.Add(-time.Hour), LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"cart": []byte("3"), "m:v": []byte("x")}}
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	key := "tether:s:" + id
	score, err := client.ZScore(ctx, "tether:u:bob", id).Result()
	if err != nil || score == 0 {
		t.Fatalf("user index entry: %v, %v", score, err)
	}
	want := func(version uint64, pairs string) string {
		b := []byte{'r'}
		b = binary.BigEndian.AppendUint64(b, version)
		for _, ms := range []int64{now.UnixMilli(), c.Expires.UnixMilli(), c.Created.UnixMilli(), int64(score)} {
			b = binary.BigEndian.AppendUint64(b, uint64(ms))
		}
		return string(b) + "\x03bob" + "\x00" + pairs
	}
	check := func(when, w string) {
		t.Helper()
		if got, err := client.Get(ctx, key).Result(); err != nil || got != w {
			t.Errorf("%s: %q, %v; want %q", when, got, err, w)
		}
	}
	check("created", want(1, "\x04cart\x013\x03m:v\x01x"))
	if exp, err := client.PExpireTime(ctx, key).Result(); err != nil || exp != time.Duration(c.Expires.UnixMilli())*time.Millisecond {
		t.Errorf("PEXPIRETIME = %v, %v; want %v", exp, err, c.Expires.UnixMilli())
	}
	// An update that leaves Expires zero keeps the stored expiry; a changed
	// value stays where it was, a new key goes at the end.
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": nil, "cart": []byte("45")}}); err != nil {
		t.Fatal(err)
	}
	check("updated", want(versionOf(t, s, id), "\x04cart\x0245\x03m:v\x01x\x01k\x00"))
	if exp, _ := client.PExpireTime(ctx, key).Result(); exp != time.Duration(c.Expires.UnixMilli())*time.Millisecond {
		t.Errorf("PEXPIRETIME after an update without expiry = %v, want %v", exp, c.Expires.UnixMilli())
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Delete: []string{"cart"}}); err != nil {
		t.Fatal(err)
	}
	check("deleted", want(versionOf(t, s, id), "\x03m:v\x01x\x01k\x00"))
}

func encode(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// The size limit counts what the record keeps, across commits, and a refused
// commit writes nothing.
func TestMaxRecordSize(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := newStore(t, client, redisstore.WithMaxRecordSize(100))
	ctx := t.Context()
	now := time.Now()
	id := newID()
	big := bytes.Repeat([]byte("x"), 40)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"a": big}}); err != nil {
		t.Fatal(err)
	}
	update := func(set map[string][]byte, del ...string) error {
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: set, Delete: del})
		return err
	}
	if err := update(map[string][]byte{"b": big}); err != nil { // 82 bytes
		t.Fatalf("second value: %v", err)
	}
	second, _ := s.Load(ctx, id)
	err := update(map[string][]byte{"c": big}) // 123 bytes
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Size != 123 || tl.Limit != 100 {
		t.Fatalf("third value: %v, want TooLargeError{123, 100}", err)
	}
	rec, _ := s.Load(ctx, id)
	if rec.Values.Len() != 2 || rec.Version != second.Version {
		t.Errorf("record after a refused commit: %d values, version %d; want 2, %d", rec.Values.Len(), rec.Version, second.Version)
	}
	// Replacing and deleting count what was there.
	if err := update(map[string][]byte{"a": []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if err := update(map[string][]byte{"c": big}); err != nil { // 2 + 41 + 41
		t.Fatalf("after shrinking a: %v", err)
	}
	if err := update(map[string][]byte{"d": big}, "b", "c"); err != nil { // 2 + 41
		t.Fatalf("delete and set: %v", err)
	}
	// A change over the limit by itself never reaches the server.
	if err := update(map[string][]byte{"huge": make([]byte, 200)}); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("huge change: %v, want ErrTooLarge", err)
	}
}

// A hash the store did not write is reported, not read as a session or as
// nothing.
func TestCorruptRecord(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false))
	defer s.Close()
	ctx := t.Context()
	id := newID()
	client.HSet(ctx, "tether:s:"+id, "m:v", "1", "m:e", "soon")
	if rec, err := s.Load(ctx, id); !errors.Is(err, redisstore.ErrCorrupt) {
		t.Errorf("Load of a corrupt record = %v, %v; want ErrCorrupt", rec, err)
	}
	client.Set(ctx, "tether:s:"+id, "a string", 0)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": nil}}); err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") {
		t.Errorf("Commit to a key of the wrong type: %v, want a redisstore error", err)
	}
}

// NOSCRIPT: a server that lost its script cache (restart, failover, SCRIPT
// FLUSH) gets the scripts again, in single calls and in pipelines.
func TestScriptFlush(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := newStore(t, client)
	ctx := t.Context()
	now := time.Now()
	ids := []string{newID(), newID()}
	for _, id := range ids {
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "u", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	client.ScriptFlush(ctx)
	if err := s.Touch(ctx, ids[0], now, now.Add(time.Hour)); err != nil {
		t.Fatalf("Touch after SCRIPT FLUSH: %v", err)
	}
	client.ScriptFlush(ctx)
	if n, err := s.DeleteUser(ctx, "u"); n != 2 || err != nil {
		t.Fatalf("DeleteUser after SCRIPT FLUSH = %d, %v; want 2, nil", n, err)
	}
}

// The user index keeps no more than a bounded number of dead entries: adding
// a session to a large index prunes the oldest dead ones.
func TestUserIndexPruned(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("prune:"))
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	// 100 entries of sessions that are gone, indexed long ago.
	old := float64(now.Add(-time.Hour).UnixMilli())
	for range 100 {
		client.ZAdd(ctx, "prune:u:carol", redis.Z{Score: old, Member: newID()})
	}
	// A fresh, dangling entry: a commit in flight. It must survive.
	inflight := newID()
	client.ZAdd(ctx, "prune:u:carol", redis.Z{Score: float64(now.UnixMilli()), Member: inflight})
	for range 10 {
		if _, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, UserID: "carol", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// Each login over 32 entries prunes up to 16 dead ones.
	if n := client.ZCard(ctx, "prune:u:carol").Val(); n > 32 {
		t.Errorf("index has %d entries after 10 logins, want at most 32", n)
	}
	infos, err := s.UserSessions(ctx, "carol")
	if err != nil || len(infos) != 10 {
		t.Errorf("UserSessions = %d, %v; want 10", len(infos), err)
	}
	if n := client.ZCard(ctx, "prune:u:carol").Val(); n != 11 {
		t.Errorf("index has %d entries after UserSessions, want 11 (10 live, 1 in flight)", n)
	}
	if _, err := client.ZScore(ctx, "prune:u:carol", inflight).Result(); err != nil {
		t.Errorf("the in-flight entry was removed: %v", err)
	}
}

// A client that ignores context deadlines is worth a warning at New.
func TestWarnsWithoutContextTimeout(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	var buf syncBuffer
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	s.Close()
	if !strings.Contains(buf.String(), "ContextTimeoutEnabled") {
		t.Errorf("no warning about ContextTimeoutEnabled; log:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Errors from the network are wrapped, and match the context's error when a
// deadline cut the call short.
func TestNetworkErrors(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := newStore(t, client)
	rdb.Stop()
	_, err := s.Load(t.Context(), newID())
	if err == nil || !strings.HasPrefix(err.Error(), "redisstore: load: ") {
		t.Errorf("Load from a stopped server: %v, want a redisstore: load error", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping of a stopped server succeeded")
	}
	rdb.Start()
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
}
