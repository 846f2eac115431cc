package modelcheck

import (
	"fmt"
	"strings"
)

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

// Report is what a failing test prints: the seed and settings to replay,
// each invariant broken, and the history of the first violation's sessions.
func (f *Failure) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model checker: %d violation(s) with %s\n", len(f.Violations), f.Config)
	seen := map[string]bool{}
	for _, v := range f.Violations {
		if !seen[v.Invariant] {
			seen[v.Invariant] = true
			fmt.Fprintf(&b, "  first %s: %s\n", v.Invariant, v.Msg)
		}
	}
	b.WriteString(Format(f.History, f.Violations[0]))
	return b.String()
}

// Stats counts a history's operations by kind and outcome, for the log of a
// passing run: a run that did no logins proves nothing about fixation.
func Stats(h *History) string {
	var total, ok [numKinds]int
	for _, op := range h.Ops {
		total[op.Kind]++
		if op.ok() {
			ok[op.Kind]++
		}
	}
	var parts []string
	for k := range numKinds {
		parts = append(parts, fmt.Sprintf("%s %d/%d", k, ok[k], total[k]))
	}
	return fmt.Sprintf("%d ops (ok/total): %s", len(h.Ops), strings.Join(parts, ", "))
}
