package chaos_test

import (
	"os"
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
