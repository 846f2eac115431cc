package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/bench/redisserver"
)

// TestProtoScriptFloor measures what a few command shapes cost redis-server.
func TestProtoScriptFloor(t *testing.T) {
	if os.Getenv("TETHER_PROTO_INSTR") == "" {
		t.Skip("TETHER_PROTO_INSTR=1 runs it")
	}
	ctl, err := exec.LookPath("callgrind_control")
	if err != nil {
		t.Skip("no callgrind_control")
	}
	dir := t.TempDir()
	rs, err := redisserver.StartUnder("valgrind", "--tool=callgrind",
		"--toggle-collect=readQueryFromClient", "--toggle-collect=handleClientsWithPendingWrites",
		"--callgrind-out-file="+filepath.Join(dir, "cg.%p"))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	cg := callgrind{ctl: ctl, pid: rs.Pid(), dir: dir}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	val := string(make([]byte, 90))
	body := string(make([]byte, 40))
	for i := range 64 {
		rdb.Set(ctx, fmt.Sprint("k", i), val, 0)
	}
	scripts := map[string]string{
		"return0":   "return 0",
		"getrange":  "local h = redis.pcall('GETRANGE', KEYS[1], 0, 40) return 0",
		"getset":    "local h = redis.pcall('GETRANGE', KEYS[1], 0, 40) redis.call('SET', KEYS[1], ARGV[1] .. string.sub(h, 34, 41) .. ARGV[2], 'KEEPTTL') return 0",
		"getsetpub": "local h = redis.pcall('GETRANGE', KEYS[1], 0, 40) redis.call('SET', KEYS[1], ARGV[1] .. string.sub(h, 34, 41) .. ARGV[2], 'KEEPTTL') redis.call('PUBLISH', 'ch', KEYS[1]) return 0",
		"time":      "local t = redis.call('TIME') return 0",
	}
	hashes := map[string]string{}
	for n, src := range scripts {
		h, err := rdb.ScriptLoad(ctx, src).Result()
		if err != nil {
			t.Fatal(err)
		}
		hashes[n] = h
	}
	const n = 300
	measure := func(name string, f func(i int)) {
		for i := range 3 {
			f(i)
		}
		if err := cg.zero(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			f(i)
		}
		total, err := cg.dump()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%-10s %.0f instructions per call\n", name, float64(total)/n)
	}
	measure("get", func(i int) { rdb.Get(ctx, fmt.Sprint("k", i%64)) })
	measure("set", func(i int) { rdb.Set(ctx, fmt.Sprint("k", i%64), val, redis.KeepTTL) })
	measure("publish", func(i int) { rdb.Publish(ctx, "ch", "x") })
	for _, name := range []string{"return0", "time", "getrange", "getset", "getsetpub"} {
		measure(name, func(i int) {
			if err := rdb.EvalSha(ctx, hashes[name], []string{fmt.Sprint("k", i%64)}, string(make([]byte, 41)), body).Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
