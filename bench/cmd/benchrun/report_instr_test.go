package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tether-go/tether/bench/redisserver"
)

// The Redis read target is decided by instructions where they were counted,
// whatever the CPU time says, and by the CPU time where they were not.
func TestRedisReadTarget(t *testing.T) {
	cell := &rateStat{redisCPU: series{27, 28, 29}}
	for _, tc := range []struct {
		name         string
		tether, gor  series
		time         series
		met, byInstr bool
	}{
		{"fewer instructions, more time", series{6300, 6310, 6320}, series{6890, 6900, 6860}, series{1.10, 1.02, 1.14}, true, true},
		{"more instructions, less time", series{7300, 7310, 7320}, series{6890, 6900, 6860}, series{0.90, 0.95, 0.97}, false, true},
		{"no instructions: time decides, yes", nil, nil, series{0.90, 0.95, 0.97}, true, false},
		{"no instructions: time decides, no", nil, nil, series{1.10, 1.02, 1.14}, false, false},
		{"nothing counted: time decides", series{0, 0, 0}, series{0, 0, 0}, series{1.10, 1.12, 1.14}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &report{}
			if tc.tether != nil {
				rep.redisInstr = &redisInstr{per: map[key]series{
					{"read", "tether-redis"}:  tc.tether,
					{"read", "gorilla-redis"}: tc.gor,
				}}
			}
			got := rep.redisReadTarget(tc.time, cell, cell)
			if got.met != tc.met {
				t.Errorf("met = %v, want %v: %s", got.met, tc.met, got.measured)
			}
			if by := strings.Contains(got.name, "instructions"); by != tc.byInstr {
				t.Errorf("decided by instructions: %v, want %v (%s)", by, tc.byInstr, got.name)
			}
			if !strings.HasPrefix(got.measured, "**") || strings.Count(got.measured, "**") != 2 {
				t.Errorf("measured %q: want the figure in bold", got.measured)
			}
			if got.verdict != "" {
				t.Errorf("verdict %q for a ratio far from 1", got.verdict)
			}
		})
	}
	// Within the count's run-to-run spread of the goal, neither yes nor no.
	rep := &report{redisInstr: &redisInstr{per: map[key]series{
		{"read", "tether-redis"}:  {6000, 6010, 6020},
		{"read", "gorilla-redis"}: {6050, 6040, 6060},
	}}}
	if got := rep.redisReadTarget(series{1, 1, 1}, cell, cell); !strings.HasPrefix(got.verdict, "undecided") {
		t.Errorf("ratio %s: verdict %q, want undecided", got.measured, got.verdict)
	}
}

// runRedisInstr counts, for every app and route, the same figure in every
// round (callgrind counts instructions, not time), and a write script costs
// Redis more than a GET.
func TestRunRedisInstr(t *testing.T) {
	if _, err := exec.LookPath("callgrind_control"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("valgrind's callgrind_control not found under CI=true:", err)
		}
		t.Skip("valgrind not installed (scripts/install-deps.sh installs it; run the README's `make test`)")
	}
	if rs, err := redisserver.Start(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no redis-server under CI=true:", err)
		}
		t.Skip("no redis-server; run the README's `make test`:", err)
	} else {
		rs.Stop()
	}
	ri, err := runRedisInstr(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range instrApps {
		for _, rt := range instrRoutes {
			s := ri.per[key{rt.name, app}]
			if app == "limit-redis" && rt.name != "read" {
				if len(s) != 0 {
					t.Errorf("%s %s measured, but the limits serve /read only", app, rt.name)
				}
				continue
			}
			if len(s) != 2 {
				t.Fatalf("%s %s: %d rounds, want 2", app, rt.name, len(s))
			}
			if s.min() < 1000 {
				t.Errorf("%s %s: %v instructions per request; a round trip costs thousands", app, rt.name, s)
			}
			if s.spread() > 0.03 {
				t.Errorf("%s %s: rounds %v differ by %.1f %%", app, rt.name, s, 100*s.spread())
			}
		}
	}
	if r, w := ri.per[key{"read", "tether-redis"}].median(), ri.per[key{"incr", "tether-redis"}].median(); w < 5*r {
		t.Errorf("tether-redis: a write %v instructions, a read %v: the write script should cost several reads", w, r)
	}
}

// callgrind_control exits 0 when it finds no such process; run must not
// take that for done.
func TestCallgrindControlFailure(t *testing.T) {
	ctl, err := exec.LookPath("callgrind_control")
	if err != nil {
		t.Skip("valgrind not installed")
	}
	c := callgrind{ctl: ctl, pid: 1 << 30}
	if err := c.zero(); err == nil {
		t.Error("zeroing the counters of a process that does not exist succeeded")
	}
}
