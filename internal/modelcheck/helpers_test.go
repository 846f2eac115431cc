package modelcheck_test

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/modelcheck"
)

// Environment knobs:
//
//	TETHER_STRESS=10m   run each backend's checker for this long (make stress)
//	TETHER_SEED=N       replay seed N once (the seed a failure printed)
//	TETHER_ROUNDS=N     rounds per run (default: the test's)
//	TETHER_CLIENTS=N    clients per run (default: the test's)
//	TETHER_MIX=plant=0,steal=0   change operation weights (names as printed
//	                    in histories: read, write, rw, login, logout, plant,
//	                    steal, destroy-session, destroy-user, user-sessions)

// plan is how many runs a test makes: a fixed number of seeds in `go test`,
// or as many as fit in TETHER_STRESS.
type plan struct {
	runs   int
	until  time.Time // stress: run until then
	seed   int64     // first seed
	replay bool      // TETHER_SEED: that seed only
}

func stressDuration(t *testing.T) time.Duration {
	s := os.Getenv("TETHER_STRESS")
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("TETHER_STRESS=%q: %v", s, err)
	}
	return d
}

func budget(t *testing.T, runs int) plan {
	p := plan{runs: runs, seed: 1}
	if d := stressDuration(t); d > 0 {
		p.until = time.Now().Add(d)
		p.seed = time.Now().UnixNano() % 1e9
	}
	if s := os.Getenv("TETHER_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("TETHER_SEED=%q: %v", s, err)
		}
		p = plan{runs: 1, seed: n, replay: true}
	}
	return p
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// verify runs the checker on backend as p says and fails the test with the
// seed and the minimal history of the first violation.
func verify(t *testing.T, cfg modelcheck.Config, backend modelcheck.Backend, p plan) {
	t.Helper()
	cfg.Rounds = envInt(t, "TETHER_ROUNDS", cfg.Rounds)
	cfg.Clients = envInt(t, "TETHER_CLIENTS", cfg.Clients)
	if s := os.Getenv("TETHER_MIX"); s != "" {
		mix, err := modelcheck.ParseMix(s)
		if err != nil {
			t.Fatalf("TETHER_MIX: %v", err)
		}
		cfg.Mix = mix
	}
	began := time.Now()
	for i := 0; ; i++ {
		if p.until.IsZero() && i >= p.runs || !p.until.IsZero() && time.Now().After(p.until) {
			t.Logf("%d runs in %v, all invariants kept", i, time.Since(began).Round(time.Millisecond))
			return
		}
		cfg.Seed = p.seed + int64(i)
		runStart := time.Now()
		f, err := modelcheck.Explore(cfg, backend)
		for tries := 0; errors.As(err, new(*modelcheck.BackendError)) && tries < 10; tries++ {
			// A fault proxy may cut the setup itself (creating a
			// table); that is not what the run tests.
			f, err = modelcheck.Explore(cfg, backend)
		}
		if err != nil {
			t.Fatalf("seed %d: %v", cfg.Seed, err)
		}
		if f != nil {
			t.Fatalf("seed %d failed after %v (run %d, %v into it; TETHER_SEED=%d replays it)\n%s",
				cfg.Seed, time.Since(began).Round(time.Millisecond), i+1, time.Since(runStart).Round(time.Millisecond), cfg.Seed, f.Report())
		}
	}
}
