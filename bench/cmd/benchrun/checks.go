package main

import (
	"fmt"
	"time"

	"github.com/tether-go/tether/bench/apps"
)

const (
	concurrentWrites = 200
	rotDuring        = 100 // the rotating request and 99 concurrent reads
	rotAfter         = 100
)

type checkResults struct {
	lost     map[string][]lostKeysResult
	login    map[string][]rotationResult
	periodic map[string][]rotationResult // Tether apps with WithRotateEvery
}

// runChecks runs the correctness checks, each app on a server started for
// them: unpinned, so that its requests run in parallel on every CPU, as the
// lost-writes check needs (the HTTP runs' servers are pinned to fewer CPUs,
// with GOMAXPROCS to match).
func (rep *report) runChecks(serverBin, logDir, redisAddr string) error {
	o := rep.opts
	c := &checkResults{lost: map[string][]lostKeysResult{}, login: map[string][]rotationResult{}, periodic: map[string][]rotationResult{}}
	rep.checks = c
	for _, in := range apps.All {
		if in.Library == "none" {
			continue
		}
		s, err := startServer(serverBin, logDir, in.Name, redisAddr, "checks:"+in.Name+":", 0, "")
		if err != nil {
			return err
		}
		for range o.checkReps {
			r, err := lostKeys(s, concurrentWrites)
			if err != nil {
				s.Stop()
				return err
			}
			c.lost[in.Name] = append(c.lost[in.Name], r)
			rr, err := rotationLogouts(s, "/login", 0, rotDuring, rotAfter)
			if err != nil {
				s.Stop()
				return err
			}
			c.login[in.Name] = append(c.login[in.Name], rr)
		}
		s.Stop()
		progress("checks: %s", in.Name)
	}
	for _, in := range apps.All {
		if in.Library != "tether" {
			continue
		}
		s, err := startServer(serverBin, logDir, in.Name, redisAddr, "periodic:"+in.Name+":", o.rotateEvery, "")
		if err != nil {
			return err
		}
		for range o.checkReps {
			rr, err := rotationLogouts(s, "", o.rotateEvery+100*time.Millisecond, rotDuring, rotAfter)
			if err != nil {
				s.Stop()
				return err
			}
			c.periodic[in.Name] = append(c.periodic[in.Name], rr)
		}
		s.Stop()
		progress("checks: %s with WithRotateEvery(%v)", in.Name, o.rotateEvery)
	}
	return nil
}

func lostSeries(rs []lostKeysResult) (lost, failed series) {
	for _, r := range rs {
		lost = append(lost, float64(r.lost))
		failed = append(failed, float64(r.failed))
	}
	return
}

func rotSeries(rs []rotationResult) (during, after series, newOK, oldAlive string) {
	ok, alive := 0, 0
	for _, r := range rs {
		during = append(during, float64(r.during))
		after = append(after, float64(r.after))
		if r.newWorks {
			ok++
		}
		if r.oldAlive {
			alive++
		}
	}
	return during, after, fmt.Sprintf("%d/%d", ok, len(rs)), fmt.Sprintf("%d/%d", alive, len(rs))
}
