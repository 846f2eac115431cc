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
		})
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
		t.Skip("valgrind not installed (bench/install.sh installs it)")
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
