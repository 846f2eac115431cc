package modelcheck

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-go/tether/session"
)

// Mix weighs the operations a client picks each round. A zero weight never
// picks the operation.
type Mix [numKinds]int

// DefaultMix leans on what defect 1 needs: shared tokens (plant, steal),
// reads that rotate periodically and logins on those tokens, with enough
// writes, logouts and revocations for the other invariants.
var DefaultMix = Mix{
	Read:           30,
	Write:          12,
	ReadWrite:      10,
	Login:          16,
	Logout:         3,
	Plant:          10,
	Steal:          3,
	DestroySession: 3,
	DestroyUser:    2,
	UserSessions:   4,
}

// ParseMix changes DefaultMix by a list like "plant=0,login=30", with the
// operations named as histories print them.
func ParseMix(s string) (Mix, error) {
	mix := DefaultMix
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.Atoi(val)
		if !ok || err != nil || w < 0 {
			return mix, fmt.Errorf("modelcheck: bad weight %q (want name=N, N >= 0)", part)
		}
		k := slices.Index(kindNames[:], name)
		if k < 0 {
			return mix, fmt.Errorf("modelcheck: no operation %q (have %v)", name, kindNames)
		}
		mix[k] = w
	}
	if mix == (Mix{}) {
		return mix, errors.New("modelcheck: every weight is zero")
	}
	return mix, nil
}

// Config sizes and shapes one run. The zero value of a field means its
// default, given in its comment.
type Config struct {
	Seed    int64 // default: 1
	Clients int   // simulated browsers (cookie jars); default 4
	Users   int   // accounts the clients log in as; default 2
	Rounds  int   // rounds to run; default 400
	Mix     Mix   // default: DefaultMix

	// Tick, if set, drives every clock (the Managers' and, through the
	// backend, the store's if it takes one) by a logical clock that moves
	// Tick per round and stands still within a round: every request of a
	// round sees one time, so rotations come due together. Zero uses the
	// real time, read at the start of each round and still for the rest of
	// it, for servers that keep their own clock (Redis, Postgres): the
	// Managers' clock then lags the server's by at most a round, which a
	// grace period of many rounds absorbs.
	Tick time.Duration
	// RotateEvery and RotateGrace are the Managers' periodic rotation
	// settings. Defaults: one tick and two ticks with a Tick; 1 ms (every
	// round) and 250 ms in real time, where the grace must outlast a round
	// and a few store calls under load, or a revocation racing a rotation
	// may find the rotation's tombstone already gone (the grace working,
	// not a defect). A token that falls more than three rotations behind
	// within its grace is dead by design (the library follows at most
	// three forwards); the invariants allow for it.
	RotateEvery, RotateGrace time.Duration
	// StoreTimeout is the Managers' store timeout; default 2 s.
	StoreTimeout time.Duration
	// CrossNodeBound is how long after a write or a revocation on one node
	// another node may still serve what came before (the hybrid tier's
	// invalidation delay). It applies only between two different nodes.
	// Default 0: no allowance.
	CrossNodeBound time.Duration
}

func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Clients == 0 {
		c.Clients = 4
	}
	if c.Users == 0 {
		c.Users = 2
	}
	if c.Rounds == 0 {
		c.Rounds = 400
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	switch {
	case c.RotateEvery != 0:
	case c.Tick > 0:
		// Every tick: each round's readers of a token issued a round
		// before rotate it, racing any login on it.
		c.RotateEvery = c.Tick
	default:
		c.RotateEvery = time.Millisecond
	}
	switch {
	case c.RotateGrace != 0:
	case c.Tick > 0:
		c.RotateGrace = 2 * c.Tick
	default:
		c.RotateGrace = 250 * time.Millisecond
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 2 * time.Second
	}
	return c
}

// validate reports a configuration Run cannot use.
func (c Config) validate() error {
	switch {
	case c.Clients < 2:
		return fmt.Errorf("modelcheck: %d clients, want at least 2 (plants and steals need another jar)", c.Clients)
	case c.Users < 1 || c.Rounds < 1:
		return fmt.Errorf("modelcheck: %d users and %d rounds, want at least 1 of each", c.Users, c.Rounds)
	case c.Tick < 0 || c.RotateEvery < 0 || c.RotateGrace < 0 || c.StoreTimeout < 0 || c.CrossNodeBound < 0:
		return errors.New("modelcheck: negative duration")
	}
	for k, w := range c.Mix {
		if w < 0 {
			return fmt.Errorf("modelcheck: negative weight %d for %s", w, Kind(k))
		}
	}
	return nil
}

func (c Config) String() string {
	return fmt.Sprintf("seed=%d clients=%d users=%d rounds=%d tick=%v rotate-every=%v grace=%v",
		c.Seed, c.Clients, c.Users, c.Rounds, c.Tick, c.RotateEvery, c.RotateGrace)
}

// Clock is the time every Manager of a run sees: constant within a round,
// moved between rounds (by the tick, or to the real time). It is safe for
// concurrent use.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	tick time.Duration
}

func newClock(tick time.Duration) *Clock {
	return &Clock{now: time.Now(), tick: tick}
}

// Now returns the current round's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) advance() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tick > 0 {
		c.now = c.now.Add(c.tick)
	} else {
		c.now = time.Now()
	}
}

// Backend builds the application nodes of one run: one Manager per node, all
// on one deployment's shared state, built with opts (the run's clock,
// rotation and timeout settings) and now, which a backend passes to a store
// that takes a clock. close releases everything it started. Each call must
// start from an empty deployment (a fresh key prefix or table).
type Backend func(now func() time.Time, opts ...session.Option) (nodes []*session.Manager, close func(), err error)

func (c Config) sessionOptions(clock *Clock) []session.Option {
	return []session.Option{
		session.WithClock(clock.Now),
		session.WithRotateEvery(c.RotateEvery),
		session.WithRotateGrace(c.RotateGrace),
		session.WithStoreTimeout(c.StoreTimeout),
		session.WithIdleTimeout(30 * time.Minute),
		session.WithLifetime(time.Hour),
	}
}
