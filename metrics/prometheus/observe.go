package tetherprom

import (
	"context"

	"github.com/tether-go/tether/session"
)

// StoreEnd implements [session.Observer]: it counts the call by operation and
// outcome, records its latency, and for a load its result and source, for a
// commit its size.
func (c *Collector) StoreEnd(_ context.Context, d session.StoreEndData) {
	oi := outcomeIndex(d.Outcome)
	if op := int(d.Op); op > 0 && op < numOps && oi >= 0 {
		c.callsBy[op][oi].Inc()
		c.durationBy[op].Observe(d.Duration.Seconds())
	} else {
		c.calls.WithLabelValues(d.Op.String(), d.Outcome).Inc()
		c.duration.WithLabelValues(d.Op.String()).Observe(d.Duration.Seconds())
	}
	switch d.Op {
	case session.OpLoad:
		if d.Outcome == "canceled" {
			break // the client went away: no load result to speak of
		}
		r := loadError
		switch d.Outcome {
		case "ok":
			r = loadMiss
			if d.Found {
				r = loadHit
			}
		case "not_found":
			r = loadMiss
		}
		if int(d.Source) < len(sources) {
			c.loadsBy[r][d.Source].Inc()
		} else {
			c.loads.WithLabelValues(loadResults[r], d.Source.String()).Inc()
		}
	case session.OpCommit:
		c.commitBytes.Observe(float64(d.Bytes))
		c.commitKeys.Observe(float64(d.Keys))
	}
}

// Event implements [session.Observer]: it counts the event by kind, an
// explicit rotation (login, privilege change) apart from a periodic one.
func (c *Collector) Event(_ context.Context, d session.EventData) {
	switch {
	case d.Kind == session.EventRotated && d.Periodic:
		c.eventsBy[periodicSlot].Inc()
	case d.Kind > 0 && d.Kind <= session.EventDropped:
		c.eventsBy[d.Kind].Inc()
	default:
		c.events.WithLabelValues(d.Kind.String()).Inc()
	}
}

func outcomeIndex(o string) int {
	switch o {
	case "ok":
		return 0
	case "not_found":
		return 1
	case "conflict":
		return 2
	case "too_large":
		return 3
	case "canceled":
		return 4
	case "error":
		return 5
	}
	return -1
}
