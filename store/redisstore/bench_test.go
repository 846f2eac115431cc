package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// benchStore returns a store on a fresh single server and a session of five
// 100-byte values with a user, as a logged-in application might keep.
func benchStore(b *testing.B) (*redisstore.Store, string) {
	values := map[string][]byte{}
	for i := range 5 {
		values[fmt.Sprintf("key-%d", i)] = make([]byte, 100)
	}
	return benchStoreWith(b, "bench", values)
}

// benchSmall returns a store and a session as the benchmark app (bench/)
// keeps: two short values, no user.
func benchSmall(b *testing.B) (*redisstore.Store, string) {
	return benchStoreWith(b, "", map[string][]byte{"name": []byte(`"gopher"`), "n": []byte("41")})
}

func benchStoreWith(b *testing.B, user string, values map[string][]byte) (*redisstore.Store, string) {
	rdb := testserver.Redis(b)
	client := newClient(b, rdb.Addr())
	s := newStore(b, client, redisstore.WithPolicyCheck(false))
	id := newID()
	now := time.Now()
	if _, err := s.Commit(context.Background(), id, store.Change{Mode: store.Create, UserID: user, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: values}); err != nil {
		b.Fatal(err)
	}
	// Warm every script up (the first call of each loads it), then count
	// from zero.
	if err := s.Touch(context.Background(), id, now, now.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	client.ConfigResetStat(context.Background())
	cpu := processCPU()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		}
		reportServerTime(b, client)
	})
	return s, id
}

// processCPU is the CPU time (user and system) the test process has used so
// far. Per operation (cpu-µs/op) it is the application's cost of a call
// without the round trip's waiting, which makes up most of ns/op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportServerTime reports the time redis-server spent in the commands the
// benchmark sent (INFO commandstats: usec), per operation, as server-µs/op:
// on a machine shared with the server, its time is the application's too.
// It is the server's wall clock, so it counts the moments the server was
// preempted in a command as well: compare medians.
func reportServerTime(b *testing.B, client *redis.Client) {
	info, err := client.Info(context.Background(), "commandstats").Result()
	if err != nil || b.N == 0 {
		return
	}
	var usec float64
	for line := range strings.Lines(info) {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" || name == "cmdstat_config|resetstat" {
			continue
		}
		for kv := range strings.SplitSeq(stats, ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				usec += n
			}
		}
	}
	b.ReportMetric(usec/float64(b.N), "server-µs/op")
}

// One HGETALL and the decoding of the hash.
func BenchmarkLoad(b *testing.B) {
	s, id := benchStore(b)
	loadLoop(b, s, id)
}

// A load of the benchmark app's session: two short values.
func BenchmarkLoadSmall(b *testing.B) {
	s, id := benchSmall(b)
	loadLoop(b, s, id)
}

// An update of one value, with the request's new expiry: the commit script.
func BenchmarkCommit(b *testing.B) {
	s, id := benchStore(b)
	commitLoop(b, s, id, "key-1", make([]byte, 100))
}

// The benchmark app's /incr commit: one short value replaced, new expiry.
func BenchmarkCommitSmall(b *testing.B) {
	s, id := benchSmall(b)
	commitLoop(b, s, id, "n", []byte("42"))
}

// A session of 10,000 keys (empty values): a load is one GET of 70 KB, and
// a commit of one value walks every key in the script, about 0.3 µs each in
// redis-server (server-µs/op). With the hash layout, before 2026-12-07, the
// load walked them (HGETALL, about 0.1 µs each) and the commit did not.
func BenchmarkLoadManyKeys(b *testing.B) {
	s, id := benchStoreWith(b, "", manyKeys(10000))
	loadLoop(b, s, id)
}

func BenchmarkCommitManyKeys(b *testing.B) {
	s, id := benchStoreWith(b, "", manyKeys(10000))
	commitLoop(b, s, id, "5000", []byte("1"))
}

func manyKeys(n int) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := range n {
		m[strconv.Itoa(i)] = []byte{}
	}
	return m
}

func loadLoop(b *testing.B, s *redisstore.Store, id string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rec, err := s.Load(ctx, id)
		if err != nil || rec == nil {
			b.Fatal(rec, err)
		}
	}
}

// commitLoop replaces key's value, with a new expiry, as a request does.
func commitLoop(b *testing.B, s *redisstore.Store, id, key string, value []byte) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		c := store.Change{Mode: store.Update, Set: map[string][]byte{key: value}, LastSeen: now, Expires: now.Add(time.Hour)}
		if _, err := s.Commit(ctx, id, c); err != nil {
			b.Fatal(err)
		}
	}
}

// A new anonymous session: the commit script in create mode.
func BenchmarkCreate(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	value := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		c := store.Change{Mode: store.Create, Set: map[string][]byte{"key": value}, Created: now, LastSeen: now, Expires: now.Add(time.Minute)}
		if _, err := s.Commit(ctx, newID(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// The touch script: last seen and expiry of a session that was only read.
func BenchmarkTouch(b *testing.B) {
	s, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		if err := s.Touch(ctx, id, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
