package modelcheck

// Failure is a run that broke an invariant: its configuration (the seed
// replays the checker's choices), its history and what broke.
type Failure struct {
	Config     Config
	History    *History
	Violations []Violation
}

// maxReported bounds the violations a check collects: the first few explain
// a failure, thousands only slow the report.
const maxReported = 20

// Explore runs cfg once and checks the history. On a violation it shrinks:
// it replays the seed with half the clients, then half the rounds, a few
// times each (a replay keeps the choices but not the interleaving, so a
// smaller run may pass by luck), and keeps the smallest run that still
// failed. It returns nil if the run kept every invariant.
func Explore(cfg Config, backend Backend) (*Failure, error) {
	cfg = cfg.withDefaults()
	h, err := Run(cfg, backend)
	if err != nil {
		return nil, err
	}
	vs := Check(h, cfg.CrossNodeBound, maxReported)
	if len(vs) == 0 {
		return nil, nil
	}
	best := &Failure{Config: cfg, History: h, Violations: vs}
	const attempts = 3
	for _, smaller := range []func(Config) (Config, bool){
		func(c Config) (Config, bool) { c.Clients /= 2; return c, c.Clients >= 2 },
		func(c Config) (Config, bool) { c.Rounds /= 2; return c, c.Rounds >= 4 },
	} {
		for {
			next, ok := smaller(best.Config)
			if !ok {
				break
			}
			var found *Failure
			for range attempts {
				h, err := Run(next, backend)
				if err != nil {
					return best, nil
				}
				if vs := Check(h, next.CrossNodeBound, maxReported); len(vs) > 0 {
					found = &Failure{Config: next, History: h, Violations: vs}
					break
				}
			}
			if found == nil {
				break
			}
			best = found
		}
	}
	return best, nil
}
