package chaos

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Ledger records every response the simulated users got and every
// violation of Tether's promises they saw. It is safe for concurrent use.
type Ledger struct {
	// LossWindow is how far back from a store crash acknowledged data may be
	// lost without breaking the store's own promise: 0 for a durable store
	// (AOF always, Postgres, bbolt), about a second for AOF everysec and for
	// asynchronous replication, Forever for a store that keeps nothing.
	LossWindow time.Duration
	// StaleBound is how long after a logout another node may still serve
	// the session (the hybrid tier's invalidation bound).
	StaleBound time.Duration

	mu      sync.Mutex
	crashes []time.Time // when the store lost its memory (killed or failed over)
	events  []event
	counts  Counts
	details []string
}

// Forever is a loss window for stores that promise nothing across a crash.
const Forever = 100 * 365 * 24 * time.Hour

// event is one response: when it was sent and received, and how it went.
type event struct {
	start, end time.Time
	ok         bool // a 2xx answer
}

// Counts are the ledger's totals.
type Counts struct {
	Requests     int
	Errors       int // 5xx or no answer
	AckedWrites  int
	LostWrites   int // acknowledged writes read back missing or older, against the store's promise
	LostExcused  int // ... within the store's loss window (not promised)
	WrongReads   int // another user's data, or a session served after logout past the bound
	StaleInBound int // a logged-out token served within the bound
	Silent       int // "no session" for a session the store promised to keep
	SessionsLost int // "no session" for a session the store did not promise to keep
	Ambiguous    int // logged out after a rotation whose reply was lost (documented limit)
	DeadProbes   int // requests with a logged-out or rotated-away token
	SlowestError time.Duration
}

// Crash notes that the store lost what it had not made durable at t.
func (l *Ledger) Crash(t time.Time) {
	l.mu.Lock()
	l.crashes = append(l.crashes, t)
	l.mu.Unlock()
}

// excused reports whether data acknowledged at acked may have been lost by
// a crash within the loss window after it.
func (l *Ledger) excused(acked time.Time) bool {
	for _, c := range l.crashes {
		if !acked.After(c) && c.Sub(acked) <= l.LossWindow {
			return true
		}
	}
	return false
}

func (l *Ledger) response(start, end time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts.Requests++
	if !ok {
		l.counts.Errors++
		l.counts.SlowestError = max(l.counts.SlowestError, end.Sub(start))
	}
	l.events = append(l.events, event{start, end, ok})
}

func (l *Ledger) add(f func(*Counts), format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.counts)
	if format != "" && len(l.details) < 20 {
		l.details = append(l.details, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

// Counts returns the totals so far.
func (l *Ledger) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts
}

// Details returns the first violations, described.
func (l *Ledger) Details() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.details)
}

// Window describes the errors around a fault: how many, from the first to
// the last, and the time from the store's return (back) to the first good
// response sent after it and to the end of the last error.
type Window struct {
	Errors     int
	First      time.Time
	Last       time.Time
	FirstGood  time.Duration // back → first 2xx of a request sent at or after back
	LastError  time.Duration // back → end of the last error (0 if none after back)
	Requests   int
	RatePerSec float64
}

// Span is the length of the error window.
func (w Window) Span() time.Duration {
	if w.Errors == 0 {
		return 0
	}
	return w.Last.Sub(w.First)
}

// Window measures the responses between from and to, for a store that
// returned at back.
func (l *Ledger) Window(from, to, back time.Time) Window {
	l.mu.Lock()
	defer l.mu.Unlock()
	var w Window
	firstGood := time.Time{}
	for _, e := range l.events {
		if e.start.Before(from) || e.start.After(to) {
			continue
		}
		w.Requests++
		if !e.ok {
			if w.Errors == 0 || e.start.Before(w.First) {
				w.First = e.start
			}
			if e.end.After(w.Last) {
				w.Last = e.end
			}
			w.Errors++
			if e.end.After(back) {
				w.LastError = max(w.LastError, e.end.Sub(back))
			}
			continue
		}
		if !e.start.Before(back) && (firstGood.IsZero() || e.end.Before(firstGood)) {
			firstGood = e.end
		}
	}
	if !firstGood.IsZero() {
		w.FirstGood = firstGood.Sub(back)
	}
	if d := to.Sub(from).Seconds(); d > 0 {
		w.RatePerSec = float64(w.Requests) / d
	}
	return w
}
