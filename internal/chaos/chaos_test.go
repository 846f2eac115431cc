package chaos_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/chaos"
	"github.com/tether-go/tether/internal/testserver"
)

func TestMain(m *testing.M) {
	chaos.MaybeRunNode() // the test binary doubles as the app node
	os.Exit(m.Run())
}

// shortRecovery is how soon after the store's return TestShort wants a good
// response, with room for a loaded CI machine.
const shortRecovery = 5 * time.Second

// shortScenarios are the faults TestShort runs: one per backend.
var shortScenarios = map[string]bool{
	"redis-server SIGKILL + restart/AOF appendfsync always": true,
	"postgres immediate shutdown + restart/":                true,
	"memcached SIGKILL + restart/":                          true,
	"app node SIGKILL + restart behind NGINX/":              true,
	"app node SIGKILL + restart (its own bbolt file)/":      true,
}

func short(sc *chaos.Scenario) bool {
	if shortScenarios[sc.Name+"/"] {
		return true
	}
	return shortScenarios[sc.Name+"/"+sc.Persistence]
}

// TestShort runs one fault per backend for a few seconds each, under load,
// and fails on any wrong read, silent logout or lost write the store
// promised to keep. `make chaos` runs them all, longer (TestFull).
func TestShort(t *testing.T) {
	testserver.Require(t, "nginx")
	n := 0
	for _, sc := range chaos.Scenarios() {
		if !short(sc) {
			continue
		}
		n++
		t.Run(sc.Name, func(t *testing.T) {
			chaos.Run(t, sc, chaos.ShortTiming).Check(t, shortRecovery)
		})
	}
	if n != len(shortScenarios) {
		t.Fatalf("ran %d scenarios, want the %d of shortScenarios: a name changed", n, len(shortScenarios))
	}
}

// TestFull runs every scenario with FullTiming and the soak
// (TETHER_CHAOS_SOAK, default 10m), and writes the report to the file
// TETHER_CHAOS_OUT names: `make chaos`. Without TETHER_CHAOS_OUT it is
// skipped. Like TestShort it fails on any violation, after writing the
// report, which then shows them.
func TestFull(t *testing.T) {
	out := os.Getenv("TETHER_CHAOS_OUT")
	if out == "" {
		t.Skip("TETHER_CHAOS_OUT is not set; run `make chaos`")
	}
	testserver.Require(t, "nginx")
	soak := 10 * time.Minute
	if s := os.Getenv("TETHER_CHAOS_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TETHER_CHAOS_SOAK=%q: %v", s, err)
		}
		soak = d
	}
	timing := chaos.FullTiming
	info := chaos.Describe(time.Now(), timing, soak)

	var results []chaos.Result
	for _, sc := range chaos.Scenarios() {
		if filter := os.Getenv("TETHER_CHAOS_ONLY"); filter != "" && !strings.Contains(sc.Name+" "+sc.Persistence, filter) {
			continue
		}
		t.Run(sc.Name+" "+sc.Persistence, func(t *testing.T) {
			r := chaos.Run(t, sc, timing)
			r.Check(t, 5*time.Second)
			results = append(results, r)
		})
	}
	var soakResult *chaos.SoakResult
	if soak > 0 {
		t.Run("soak", func(t *testing.T) {
			period := min(max(soak/10, 20*time.Second), time.Minute)
			r := chaos.Soak(t, soak, period, timing)
			soakResult = &r
			for _, d := range r.Details {
				t.Log("  " + d)
			}
			c := r.Counts
			if c.WrongReads+c.Silent+c.LostWrites > 0 {
				t.Errorf("soak: %d wrong reads, %d silent logouts, %d lost writes", c.WrongReads, c.Silent, c.LostWrites)
			}
			for _, f := range r.Faults {
				t.Logf("soak %v %s: %d errors, first good %v", f.At.Round(time.Second), f.Name, f.Window.Errors, f.Window.FirstGood)
			}
		})
	}
	info.LoadAvg[1] = chaos.Describe(time.Now(), timing, soak).LoadAvg[0]
	var b bytes.Buffer
	chaos.WriteReport(&b, info, results, soakResult)
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}
