package hybridstore

import (
	"time"

	"github.com/tether-go/tether/store"
)

// Backends keep times at different precisions — Redis milliseconds, Postgres
// microseconds, memstore and Memcached (through the record codec)
// nanoseconds — and all of them truncate. A record this store builds from a
// write (see Commit) must be exactly what the remote would return, times
// included, or two loads of one version would disagree. So the store learns
// the remote's precision from the records it loads: the coarsest of
// millisecond, microsecond and nanosecond that every time seen so far is a
// multiple of. Stored times are truncated, so the estimate is never finer
// than the truth; with the session manager's clock readings (nanoseconds)
// one record is enough to find it. Until a first record was loaded, writes
// evict instead of updating the entry.
//
// Should an application's times all be whole milliseconds while its backend
// keeps microseconds, the estimate is milliseconds — and truncating such
// times to milliseconds changes nothing, so the records still agree.

var precisions = [...]time.Duration{time.Millisecond, time.Microsecond, time.Nanosecond}

// alignment is the coarsest precision t is a multiple of; 0 for the zero
// time, which says nothing.
func alignment(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	ns := time.Duration(t.Nanosecond())
	for _, p := range precisions {
		if ns%p == 0 {
			return p
		}
	}
	return time.Nanosecond
}

// observe refines the precision estimate with the times of rec.
func (s *Store) observe(rec *store.Record) {
	p := time.Duration(0)
	for _, t := range [...]time.Time{rec.Created, rec.LastSeen, rec.Expires} {
		if a := alignment(t); a != 0 && (p == 0 || a < p) {
			p = a
		}
	}
	if p == 0 {
		return
	}
	for {
		cur := s.precision.Load()
		if cur != 0 && cur <= int64(p) {
			return
		}
		if s.precision.CompareAndSwap(cur, int64(p)) {
			return
		}
	}
}

// truncate returns t as the remote keeps it. It also strips the monotonic
// clock reading, which no store keeps.
func truncate(t time.Time, p time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(p)
}
