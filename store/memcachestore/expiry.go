package memcachestore

import (
	"math"
	"time"
)

// expiryPad is added to every expiry sent to memcached. Memcached keeps whole
// seconds on a clock of its own that ticks once a second from a monotonic
// source whose second boundaries are not the wall clock's, so it may believe
// it is up to a second later than it is. Rounding up alone could then drop a
// record up to a second early; the pad makes that impossible. Readers never
// see the extra second: the store compares every record's Expires with its
// own clock and treats a passed one as missing.
const expiryPad = 1

// maxRelative is the largest exptime memcached reads as relative to now (30
// days, in seconds); larger values are absolute Unix times.
const maxRelative = 30 * 24 * 60 * 60

// expSeconds returns t as Unix seconds rounded up: the first whole second at
// or after t.
func expSeconds(t time.Time) int64 {
	s := t.Unix() // floor, also for times before 1970
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// exptime converts a record's expiry to memcached's exptime: always an
// absolute Unix time (memcached reads a value of 30 days or less as relative
// to now, and anything larger as absolute; a Unix time is always larger),
// rounded up and padded so that it is never early. Expiries past what an
// int32 holds (2038) are clamped to its maximum: memcached's field is 32
// bits. The caller never sends a deadline that has passed; one so far in the
// past that memcached would read it as relative is sent as [expired].
func exptime(t time.Time) int32 { return exptimeAt(expSeconds(t)) }

// exptimeAt is exptime for a deadline already in whole Unix seconds.
func exptimeAt(sec int64) int32 {
	s := sec + expiryPad
	switch {
	case s > math.MaxInt32:
		return math.MaxInt32
	case s <= maxRelative:
		// Memcached would read it as relative to now: a deadline in
		// January 1970 has passed.
		return expired
	}
	return int32(s)
}

// expired is the exptime of a write that must end the item at once: memcached
// treats a negative exptime as already expired. The store uses it for a
// compare-and-swap "delete", which, unlike memcached's delete command, fails
// if the item changed since it was read.
const expired int32 = -1
