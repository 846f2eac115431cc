package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"
	rbredisstore "github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/redisserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/redisstore"
)

// The growth run (issue 20, "how cost grows with the work"): bytes per
// session as the number of small sessions grows, in each store and in the
// peers' Redis formats; the user operations' latency and round trips as a
// user's sessions grow; read latency and GC pauses with the sessions
// resident in memory; and the Postgres reaper's cost (growth_pg.go).
//
// A small session is 3 keys with about 200 bytes of values, and a user ID.

// growthValues are the three values of a small session as Tether stores
// them (JSON) and as the peers' gob stores them (Go strings).
var growthStrings = map[string]string{
	"name":  strings.Repeat("n", 60),
	"email": strings.Repeat("e", 60),
	"prefs": strings.Repeat("p", 74),
}

// payload is what a session's contents weigh: ID, user ID, keys, values
// (as Tether stores them). Overhead is measured beyond it.
func payload(id, user string) int {
	n := len(id) + len(user)
	for k, v := range growthStrings {
		n += len(k) + len(v) + 2 // JSON quotes
	}
	return n
}

// tetherValues returns a fresh copy of the values, as a request would
// decode them: a store that keeps references must not share them.
func tetherValues() map[string][]byte {
	m := make(map[string][]byte, len(growthStrings))
	for k, v := range growthStrings {
		b, _ := json.Marshal(v)
		m[k] = b
	}
	return m
}

func growthToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type growthRow struct {
	what  string // "memstore (Go heap)", …
	n     int
	bytes float64 // per session
	// payload is the bytes of ID, user ID, keys and values per session;
	// 0 where the format stores other bytes (the peers).
	payload float64
	note    string
}

type userOpRow struct {
	backend  string
	sessions int
	listLat  time.Duration // UserSessions, median
	listRT   float64       // round trips per call
	delLat   time.Duration
	delRT    float64
	note     string
}

type residentRow struct {
	n             int
	p50, p99      time.Duration
	maxPause      time.Duration
	gcs           int
	heapMB        float64
	loadsMeasured int
}

type growthResults struct {
	profDir  string            // where heap profiles go ("": none)
	profiles map[string]string // pprof -top of the in-use heap, by store
	ns       []int
	rows     []growthRow
	users    []userOpRow
	resident []residentRow
	usage    []string // MEMORY USAGE of one key per format
	reap     *reapResult
	notes    []string
	elapsed  time.Duration
}

type reapResult struct {
	n           int
	elapsed     time.Duration
	rate        float64
	p99Before   time.Duration
	p99During   time.Duration
	tableBefore int64
	note        string
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runGrowth runs the growth section against a redis-server of its own (it
// flushes it between steps) and, if PostgreSQL is installed, a postgres.
func runGrowth(o options) (*growthResults, error) {
	t0 := time.Now()
	res := &growthResults{profiles: map[string]string{}}
	var err error
	if !o.noProfiles {
		res.profDir = filepath.Join(o.results, "profiles")
		if err := os.MkdirAll(res.profDir, 0o755); err != nil {
			return nil, err
		}
	}
	if res.ns, err = parseInts(o.growth); err != nil {
		return nil, err
	}
	userSizes, err := parseInts(o.userSizes)
	if err != nil {
		return nil, err
	}
	rs, err := redisserver.Start()
	if err != nil {
		return nil, err
	}
	defer rs.Stop()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, PoolSize: 32, ContextTimeoutEnabled: true})
	defer rdb.Close()
	counter := &apps.Counter{}
	rdb.AddHook(counter)

	for _, n := range res.ns {
		if err := res.memstoreStep(ctx, n); err != nil {
			return nil, err
		}
		if err := res.redisStep(ctx, rdb, n); err != nil {
			return nil, err
		}
		for _, f := range []func(context.Context, *redis.Client, int) error{res.scsStep, res.gorillaStep} {
			if err := f(ctx, rdb, n); err != nil {
				return nil, err
			}
		}
		progress("growth: %d sessions", n)
	}
	if err := res.userOps(ctx, rdb, counter, userSizes); err != nil {
		return nil, err
	}
	if err := res.postgres(ctx, o, userSizes); err != nil {
		// A machine without PostgreSQL still gets the rest of the report.
		res.notes = append(res.notes, "PostgreSQL not measured: "+err.Error())
		progress("growth: postgres: %v", err)
	}
	res.elapsed = time.Since(t0)
	return res, nil
}

// heap is the live Go heap after a full collection.
func heap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// parallel runs f(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
		ferr error
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := ferr != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return ferr
}

func createChange(user string) store.Change {
	now := time.Now()
	return store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(apps.IdleTimeout),
		Set: tetherValues(), SetUserID: true, UserID: user}
}

// memstoreStep fills a memstore with n sessions and measures the heap it
// takes, then reads them under forced collections (residentRow).
func (res *growthResults) memstoreStep(ctx context.Context, n int) error {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = growthToken()
	}
	before := heap()
	ms := memstore.New(memstore.WithMaxEntries(n+1), memstore.WithMaxBytes(1<<40))
	defer ms.Close()
	var pay int
	for i, id := range ids {
		user := "user-" + strconv.Itoa(i)
		pay += payload(id, user)
		if _, err := ms.Commit(ctx, id, createChange(user)); err != nil {
			return fmt.Errorf("memstore commit: %w", err)
		}
	}
	after := heap()
	res.heapProfile("memstore", n)
	res.rows = append(res.rows, growthRow{what: "tether memstore (Go heap)", n: n,
		bytes: float64(after-before) / float64(n), payload: float64(pay) / float64(n)})
	rr, err := resident(ctx, ms, ids)
	if err != nil {
		return err
	}
	rr.heapMB = float64(after) / (1 << 20)
	res.resident = append(res.resident, rr)
	runtime.KeepAlive(ms)
	return nil
}

// resident reads random sessions of a full memstore from 4 goroutines while
// two full collections run, and reports the reads' latency and the
// collections' stop-the-world pauses.
func resident(ctx context.Context, st store.Store, ids []string) (residentRow, error) {
	const workers, per = 4, 50_000
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	var ferr error
	var mu sync.Mutex
	for w := range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, per)
			x := uint64(w*7919 + 1)
			for range per {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				id := ids[x%uint64(len(ids))]
				t := time.Now()
				rec, err := st.Load(ctx, id)
				lat = append(lat, time.Since(t))
				if err != nil || rec == nil {
					mu.Lock()
					ferr = fmt.Errorf("load %s: %v, %v", id, rec, err)
					mu.Unlock()
					return
				}
			}
			lats[w] = lat
		})
	}
	wg.Go(func() {
		for range 2 {
			time.Sleep(20 * time.Millisecond)
			runtime.GC()
		}
	})
	wg.Wait()
	if ferr != nil {
		return residentRow{}, ferr
	}
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	rr := residentRow{n: len(ids), gcs: int(ms1.NumGC - ms0.NumGC), loadsMeasured: len(all)}
	rr.p50, rr.p99 = all[len(all)/2], all[len(all)*99/100]
	for g := ms0.NumGC; g < ms1.NumGC && g < ms0.NumGC+256; g++ {
		rr.maxPause = max(rr.maxPause, time.Duration(ms1.PauseNs[(g+255)%256]))
	}
	return rr, nil
}

func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}

// redisDelta flushes Redis, runs fill, and returns used_memory's growth.
func redisDelta(ctx context.Context, rdb *redis.Client, fill func() error) (int64, error) {
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return 0, err
	}
	before, err := usedMemory(ctx, rdb)
	if err != nil {
		return 0, err
	}
	if err := fill(); err != nil {
		return 0, err
	}
	after, err := usedMemory(ctx, rdb)
	return after - before, err
}

func (res *growthResults) memoryUsage(ctx context.Context, rdb *redis.Client, what string, keys ...string) {
	if len(res.usage) >= 8 {
		return
	}
	var parts []string
	for _, k := range keys {
		u, _ := rdb.MemoryUsage(ctx, k, 0).Result()
		enc, _ := rdb.ObjectEncoding(ctx, k).Result()
		parts = append(parts, fmt.Sprintf("`%s…` %d B (%s)", k[:min(len(k), 20)], u, enc))
	}
	res.usage = append(res.usage, what+": "+strings.Join(parts, ", "))
}

// redisStep creates n sessions through redisstore (user index included),
// then reads them all through a hybrid store to measure its cache's heap.
func (res *growthResults) redisStep(ctx context.Context, rdb *redis.Client, n int) error {
	rst := redisstore.New(rdb)
	defer rst.Close()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = growthToken()
	}
	var pay int
	for i, id := range ids {
		pay += payload(id, "user-"+strconv.Itoa(i))
	}
	d, err := redisDelta(ctx, rdb, func() error {
		return parallel(n, 16, func(i int) error {
			_, err := rst.Commit(ctx, ids[i], createChange("user-"+strconv.Itoa(i)))
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("redisstore: %w", err)
	}
	res.rows = append(res.rows, growthRow{what: "tether redisstore (Redis used_memory, user index included)", n: n,
		bytes: float64(d) / float64(n), payload: float64(pay) / float64(n)})
	if n == res.ns[0] {
		res.memoryUsage(ctx, rdb, "tether", "tether:s:"+ids[0], "tether:u:user-0")
	}
	// What the user index takes: the same used_memory delta, for deleting
	// every index (the hybrid step below reads sessions by ID only). The
	// peers keep no index, so the sessions alone are the like-for-like
	// comparison with their formats.
	withIndex, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	if err := parallel(n, 16, func(i int) error {
		return rdb.Del(ctx, "tether:u:user-"+strconv.Itoa(i)).Err()
	}); err != nil {
		return fmt.Errorf("redisstore, deleting the user index: %w", err)
	}
	without, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	idx := without - withIndex
	res.rows = append(res.rows, growthRow{what: "tether redisstore, sessions alone (Redis used_memory, user index deleted)", n: n,
		bytes: float64(d+idx) / float64(n), payload: float64(pay) / float64(n), note: fmt.Sprintf("the user index took %.0f B per session", float64(-idx)/float64(n))})

	hs := hybridstore.New(rst, hybridstore.WithMaxBytes(1<<40), hybridstore.WithMaxAge(time.Hour))
	defer hs.Close()
	for deadline := time.Now().Add(10 * time.Second); hs.Stats().Bypassing; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("hybrid store not subscribed after 10s")
		}
	}
	before := heap()
	if err := parallel(n, 16, func(i int) error {
		rec, err := hs.Load(ctx, ids[i])
		if err == nil && rec == nil {
			err = fmt.Errorf("session %d missing", i)
		}
		return err
	}); err != nil {
		return fmt.Errorf("hybrid load: %w", err)
	}
	after := heap()
	res.heapProfile("hybridstore", n)
	row := growthRow{what: "tether hybridstore cache (Go heap)", n: n, bytes: (float64(after) - float64(before)) / float64(n),
		payload: float64(pay) / float64(n)}
	if e := hs.Stats().Entries; e != n {
		row.note = fmt.Sprintf("%d of %d cached", e, n)
	}
	res.rows = append(res.rows, row)
	runtime.KeepAlive(hs)
	return nil
}

// scsStep writes n sessions in scs' Redis format: its goredisstore's key
// (prefix "scs:session:" + a 43-character token) and value (scs.GobCodec of
// the deadline and values), with SET and a TTL, as its CommitCtx does.
func (res *growthResults) scsStep(ctx context.Context, rdb *redis.Client, n int) error {
	values := map[string]any{}
	for k, v := range growthStrings {
		values[k] = v
	}
	var first string
	d, err := redisDelta(ctx, rdb, func() error {
		return pipelined(ctx, rdb, n, func(p redis.Pipeliner, i int) error {
			b, err := scs.GobCodec{}.Encode(time.Now().Add(apps.Lifetime), values)
			if err != nil {
				return err
			}
			k := "scs:session:" + growthToken()
			if i == 0 {
				first = k
			}
			p.Set(ctx, k, b, apps.Lifetime)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("scs format: %w", err)
	}
	res.rows = append(res.rows, growthRow{what: "scs goredisstore format (Redis used_memory; no user index)", n: n, bytes: float64(d) / float64(n)})
	if n == res.ns[0] {
		res.memoryUsage(ctx, rdb, "scs", first)
	}
	return nil
}

// gorillaStep writes n sessions in rbcervilla/redisstore's format: key
// "session:" + 64 random bytes in unpadded base32, value its GobSerializer
// output, SET with the MaxAge TTL.
func (res *growthResults) gorillaStep(ctx context.Context, rdb *redis.Client, n int) error {
	s := sessions.NewSession(nil, apps.CookieName)
	for k, v := range growthStrings {
		s.Values[k] = v
	}
	var first string
	d, err := redisDelta(ctx, rdb, func() error {
		return pipelined(ctx, rdb, n, func(p redis.Pipeliner, i int) error {
			b, err := rbredisstore.GobSerializer{}.Serialize(s)
			if err != nil {
				return err
			}
			kb := make([]byte, 64)
			rand.Read(kb)
			k := "session:" + strings.TrimRight(base32.StdEncoding.EncodeToString(kb), "=")
			if i == 0 {
				first = k
			}
			p.Set(ctx, k, b, apps.IdleTimeout)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("gorilla format: %w", err)
	}
	res.rows = append(res.rows, growthRow{what: "gorilla rbcervilla/redisstore format (Redis used_memory; no user index)", n: n, bytes: float64(d) / float64(n)})
	if n == res.ns[0] {
		res.memoryUsage(ctx, rdb, "gorilla", first)
	}
	return nil
}

// pipelined runs add for i in [0, n) in pipelines of 1000 commands.
func pipelined(ctx context.Context, rdb *redis.Client, n int, add func(p redis.Pipeliner, i int) error) error {
	for lo := 0; lo < n; lo += 1000 {
		p := rdb.Pipeline()
		for i := lo; i < min(n, lo+1000); i++ {
			if err := add(p, i); err != nil {
				return err
			}
		}
		if _, err := p.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// userOps times UserSessions and DeleteUser for a user with k sessions, on
// each backend, and counts their Redis round trips.
func (res *growthResults) userOps(ctx context.Context, rdb *redis.Client, counter *apps.Counter, sizes []int) error {
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}
	ms := memstore.New()
	defer ms.Close()
	rst := redisstore.New(rdb, redisstore.WithPrefix("users:"))
	defer rst.Close()
	hs := hybridstore.New(rst)
	defer hs.Close()
	backends := []struct {
		name string
		st   store.Store
		rt   *apps.Counter
	}{{"memstore", ms, nil}, {"redisstore", rst, counter}, {"hybridstore over redisstore", hs, counter}}
	for _, b := range backends {
		for _, k := range sizes {
			row, err := timeUserOps(ctx, b.st, b.rt, k, b.name)
			if err != nil {
				return fmt.Errorf("%s, %d sessions: %w", b.name, k, err)
			}
			row.backend = b.name
			res.users = append(res.users, row)
		}
	}
	return nil
}

func timeUserOps(ctx context.Context, st store.Store, counter *apps.Counter, k int, name string) (userOpRow, error) {
	row := userOpRow{sessions: k}
	const reps = 5
	var lists, dels []time.Duration
	var listRT, delRT []float64
	for rep := range reps {
		user := fmt.Sprintf("%s-%d-%d", strings.Fields(name)[0], k, rep)
		if err := parallel(k, 8, func(int) error {
			_, err := st.Commit(ctx, growthToken(), createChange(user))
			return err
		}); err != nil {
			return row, err
		}
		if counter != nil {
			counter.Reset()
		}
		t := time.Now()
		infos, err := st.UserSessions(ctx, user)
		lists = append(lists, time.Since(t))
		if err != nil {
			return row, err
		}
		if len(infos) != k {
			return row, fmt.Errorf("UserSessions listed %d of %d", len(infos), k)
		}
		if counter != nil {
			_, r := counter.Snapshot()
			listRT = append(listRT, float64(r))
			counter.Reset()
		}
		t = time.Now()
		n, err := st.DeleteUser(ctx, user)
		dels = append(dels, time.Since(t))
		if err != nil {
			return row, err
		}
		if n != k {
			return row, fmt.Errorf("DeleteUser deleted %d of %d", n, k)
		}
		if counter != nil {
			_, r := counter.Snapshot()
			delRT = append(delRT, float64(r))
		}
	}
	slices.Sort(lists)
	slices.Sort(dels)
	row.listLat, row.delLat = lists[reps/2], dels[reps/2]
	row.listRT, row.delRT = -1, -1
	if counter != nil {
		// The median, as for the latencies: redisstore checks Redis's
		// maxmemory-policy in the first write that finds the check due
		// (once a minute), one round trip that any call may happen to
		// carry, whatever the number of sessions.
		row.listRT, row.delRT = series(listRT).median(), series(delRT).median()
	}
	return row, nil
}

// heapProfile writes the in-use heap of this process (the store just
// filled, at the largest step) and keeps its top, so that bytes per session
// are explained by where they are allocated, not guessed. The profile
// samples every 512 KiB allocated, plenty at 10k sessions and more.
func (res *growthResults) heapProfile(name string, n int) {
	if res.profDir == "" || n != res.ns[len(res.ns)-1] {
		return
	}
	path, err := filepath.Abs(filepath.Join(res.profDir, "growth-"+name+".heap.prof"))
	if err == nil {
		var f *os.File
		if f, err = os.Create(path); err == nil {
			err = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	if err != nil {
		res.profiles[name] = "profile failed: " + err.Error()
		return
	}
	self, _ := os.Executable()
	top, err := pprofTop(self, path, "-top", "-sample_index=inuse_space", "-nodecount=20")
	if err != nil {
		top = err.Error()
	}
	res.profiles[name] = fmt.Sprintf("$ go tool pprof -top -sample_index=inuse_space -nodecount=20 benchrun %s   # %s sessions in %s\n%s", filepath.Base(path), thousands(float64(n)), name, top)
}
