package modelcheck_test

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/modelcheck"
)

// The memory store with a logical clock: every request of a round sees one
// time, so a planted token comes due for periodic rotation at once for the
// attacker's read and the victim's login. Several seeds, so that one unlucky
// interleaving does not decide.
func TestMemory(t *testing.T) {
	t.Parallel()
	cfg := modelcheck.Config{Tick: time.Second, Clients: 4, Rounds: 400}
	verify(t, cfg, modelcheck.Memory, budget(t, 8))
}
