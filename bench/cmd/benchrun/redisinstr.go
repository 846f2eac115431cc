package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/redisserver"
)

// Instructions in redis-server per request. redis-server's CPU time per
// command (INFO commandstats, INFO cpu) moves by ±10 % from one round to the
// next on this machine, for the very same GET from a library-free app
// (limit-redis), so it cannot say whether one library's read costs Redis
// less than another's when both make one GET of a hundred bytes. What the
// library controls there (the command, the key, the value) is counted
// by valgrind's callgrind: a redis-server runs under it, collecting
// only inside readQueryFromClient (which reads, parses and runs the
// commands, scripts included, and buffers their replies) and
// handleClientsWithPendingWrites (which writes the replies), and each Redis
// app, built in this process against it, serves requests one at a time
// through its handler. The instructions between zeroing callgrind's counters
// and dumping them, over the requests, are the figure: within about 1 %
// from one round to the next and 2 % from one run to the next, whatever
// the machine is doing, where the CPU time moves by ±10 %. Left out: the event loop and
// redis-server's timers, the same whatever the library, and the socket's
// kernel time (callgrind counts user space).

// instrApps are the apps measured: those whose requests reach Redis on
// every request (tether-hybrid serves reads from its cache).
var instrApps = []string{"tether-redis", "scs-redis", "gorilla-redis", "limit-redis"}

// instrSessions is how many sessions each app serves in turn. How many
// instructions a lookup costs depends on where its key falls in Redis's
// tables: 500 GETs each of 12 random keys cost 5,291 to 5,586 instructions
// per GET (a review), as much as the apps differ by. Spread over 64 keys,
// seeded anew in every run, a figure is their average.
const instrSessions = 64

// instrRoutes are the routes measured, and how many requests each
// measurement serves: a read costs Redis a few thousand instructions, run
// some fifty times slower under callgrind; a write script a hundred thousand.
var instrRoutes = []struct {
	name, path string
	requests   int
}{
	{"read", "/read", 1000},
	{"incr", "/incr", 300},
}

// redisInstr is what runRedisInstr measured: instructions per request, one
// figure per round, by route and app.
type redisInstr struct {
	per map[key]series
	raw []string
}

// runRedisInstr measures instructions per request in redis-server, in
// rounds that rotate the order of the apps. It returns nil, and says why,
// if valgrind is not installed.
func runRedisInstr(ctx context.Context, rounds int) (*redisInstr, error) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		progress("redis-server instructions: skipped, valgrind not found (Debian's package valgrind)")
		return nil, nil
	}
	ctl, err := exec.LookPath("callgrind_control")
	if err != nil {
		progress("redis-server instructions: skipped, callgrind_control not found (it comes with valgrind)")
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "tether-bench-callgrind-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rs, err := redisserver.StartUnder("valgrind", "--tool=callgrind",
		"--toggle-collect=readQueryFromClient", "--toggle-collect=handleClientsWithPendingWrites",
		"--callgrind-out-file="+filepath.Join(dir, "cg.%p"))
	if err != nil {
		return nil, err
	}
	defer rs.Stop()
	cg := callgrind{ctl: ctl, pid: rs.Pid(), dir: dir}
	// Under callgrind a write script takes milliseconds: the slow log
	// would record some of them, work that depends on timing.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	err = rdb.ConfigSet(ctx, "slowlog-log-slower-than", "-1").Err()
	rdb.Close()
	if err != nil {
		return nil, err
	}

	type cell struct {
		app     *apps.App
		cookies []string
	}
	cells := map[string]cell{}
	defer func() {
		for _, c := range cells {
			c.app.Close()
		}
	}()
	for _, name := range instrApps {
		a, err := apps.New(name, apps.Config{RedisAddr: rs.Addr, Prefix: "instr:" + name + ":"})
		if err != nil {
			return nil, err
		}
		cells[name] = cell{app: a}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = a.Ready(rctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c := cell{app: a}
		for range instrSessions {
			cookie, err := apps.Seed(a.Handler)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			c.cookies = append(c.cookies, cookie)
		}
		cells[name] = c
	}

	ri := &redisInstr{per: map[key]series{}}
	for round := range rounds {
		for _, rt := range instrRoutes {
			order := slices.Clone(instrApps)
			n := round % len(order)
			order = append(order[n:], order[:n]...)
			for _, name := range order {
				c := cells[name]
				if !serves(c.app, rt.name) {
					continue
				}
				// A few requests first: connections made, scripts loaded,
				// first-use checks done.
				for _, cookie := range c.cookies[:3] {
					if err := serveOne(c.app.Handler, rt.path, cookie); err != nil {
						return nil, fmt.Errorf("%s %s: %w", name, rt.path, err)
					}
				}
				if err := cg.zero(); err != nil {
					return nil, err
				}
				for i := range rt.requests {
					if err := serveOne(c.app.Handler, rt.path, c.cookies[i%len(c.cookies)]); err != nil {
						return nil, fmt.Errorf("%s %s: %w", name, rt.path, err)
					}
				}
				total, err := cg.dump()
				if err != nil {
					return nil, err
				}
				if total == 0 {
					// callgrind found no function of --toggle-collect's
					// names: a redis-server built without its symbols.
					progress("redis-server instructions: skipped, callgrind counted nothing (a redis-server without the symbols readQueryFromClient and handleClientsWithPendingWrites?)")
					return nil, nil
				}
				per := float64(total) / float64(rt.requests)
				k := key{rt.name, name}
				ri.per[k] = append(ri.per[k], per)
				ri.raw = append(ri.raw, fmt.Sprintf("round %d %s %s: %d instructions over %d requests, %.0f per request", round+1, rt.name, name, total, rt.requests, per))
			}
		}
	}
	return ri, nil
}

// serves reports whether the app serves the route: the limits serve /read
// only.
func serves(a *apps.App, route string) bool {
	return a.Library != "limit" || route == "read"
}

func serveOne(h http.Handler, path, cookie string) error {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Cookie", cookie)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
	}
	return nil
}

// callgrind drives a process running under callgrind through
// callgrind_control.
type callgrind struct {
	ctl   string
	pid   int
	dir   string
	dumps int
}

func (c *callgrind) run(args ...string) error {
	out, err := exec.Command(c.ctl, append(args, strconv.Itoa(c.pid))...).CombinedOutput()
	// callgrind_control exits 0 even when it found no such process: its
	// answer says whether the command was done.
	if err != nil || !bytes.Contains(out, []byte("OK.")) {
		return fmt.Errorf("callgrind_control %v %d: %v: %s", args, c.pid, err, out)
	}
	return nil
}

func (c *callgrind) zero() error { return c.run("--zero") }

var totalsRE = regexp.MustCompile(`(?m)^totals:\s+(\d+)`)

// dump writes callgrind's counts since the last zero or dump, and returns
// the total instructions in them.
func (c *callgrind) dump() (int64, error) {
	if err := c.run("--dump"); err != nil {
		return 0, err
	}
	c.dumps++
	path := filepath.Join(c.dir, fmt.Sprintf("cg.%d.%d", c.pid, c.dumps))
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("callgrind dump: %w", err)
	}
	m := totalsRE.FindSubmatch(data)
	if m == nil {
		return 0, errors.New("callgrind dump without a totals line: " + path)
	}
	os.Remove(path)
	return strconv.ParseInt(string(m[1]), 10, 64)
}
