package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/redisserver"
)

// TestProtoIncrInstr measures redis-server instructions per /incr (and
// /read) of tether-redis only, as runRedisInstr does: the prototype's
// before/after figure. TETHER_PROTO_INSTR=1 runs it.
func TestProtoIncrInstr(t *testing.T) {
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
	if err := rdb.ConfigSet(ctx, "slowlog-log-slower-than", "-1").Err(); err != nil {
		t.Fatal(err)
	}
	a, err := apps.New("tether-redis", apps.Config{RedisAddr: rs.Addr, Prefix: "instr:"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.Ready(rctx); err != nil {
		t.Fatal(err)
	}
	var cookies []string
	for range instrSessions {
		c, err := apps.Seed(a.Handler)
		if err != nil {
			t.Fatal(err)
		}
		cookies = append(cookies, c)
	}
	for round := range 2 {
		for _, rt := range []struct {
			path string
			n    int
		}{{"/read", 500}, {"/incr", 300}} {
			for _, c := range cookies[:3] {
				if err := serveOne(a.Handler, rt.path, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := cg.zero(); err != nil {
				t.Fatal(err)
			}
			for i := range rt.n {
				if err := serveOne(a.Handler, rt.path, cookies[i%len(cookies)]); err != nil {
					t.Fatal(err)
				}
			}
			if keep := os.Getenv("TETHER_PROTO_KEEP"); keep != "" && round == 1 && rt.path == "/incr" {
				if err := cg.run("--dump"); err != nil {
					t.Fatal(err)
				}
				cg.dumps++
				data, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("cg.%d.%d", cg.pid, cg.dumps)))
				os.WriteFile(keep, data, 0o644)
				continue
			}
			total, err := cg.dump()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("round %d %s: %.0f instructions per request\n", round+1, rt.path, float64(total)/float64(rt.n))
		}
	}
	// The counter must have reached what the requests made of it.
	for i, c := range cookies[:2] {
		if err := serveOne(a.Handler, "/read", c); err != nil {
			t.Fatal(i, err)
		}
	}
}
