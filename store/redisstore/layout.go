package redisstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tether-go/tether/store"
)

// A session is one string value, so a load is one GET, and Redis keeps it as
// one allocation (a hash of three values took a dictionary and a string per
// field once one value passed 64 bytes: 1,176 bytes against about 400, and
// HGETALL cost redis-server several times a GET). The scripts read and write
// it with Lua's struct library and string functions; Go decodes it on a load.
//
// A fixed header, then length-prefixed strings (uvarint length, bytes):
//
//	kind      1 byte   'r' a record, 't' a tombstone
//	version   8 bytes  big-endian, raised by every write (by a random step:
//	                   see versionStep; a tombstone's by one)
//	last seen 8 bytes  big-endian signed Unix milliseconds
//	expires   8 bytes  ditto (Redis expires the key at it: PEXPIREAT)
//	created   8 bytes  ditto
//	score     8 bytes  big-endian signed: the session's score in its user's
//	                   index, 0 when it is not indexed (see users.go)
//
// A record continues with its user id ("" for none), its attributes (the
// encoding of attrs.go, "" for none) and then its values as pairs of key
// and value, each length-prefixed, to the end of the string: the packing of
// [store.Values]. The scripts keep a pair where it was when they change its
// value and add new keys at the end, so the pairs are in key order unless a
// commit added a key, and a load sorts them then.
//
// A tombstone continues with the ID it forwards to (its own ID: it forwards
// nothing, the session ended), the sealed new token, and the mark of the
// DeleteUser call that ended it ("" for a rotation).
//
// A time that is zero is stored as the least int64 (zeroTime). The fixed
// header puts last seen and expires side by side, so a touch rewrites 24
// bytes in place (SETRANGE), whatever the session holds.
const (
	headerLen = 41

	kindRecord    = 'r'
	kindTombstone = 't'

	offVersion = 1
	offLast    = 9
	offExpires = 17
	offCreated = 25
	offScore   = 33
)

// zeroTime is how the zero time is stored.
const zeroTime = math.MinInt64

// appendTime appends t as the header stores it.
func appendTime(b []byte, t time.Time) []byte {
	ms := int64(zeroTime)
	if !t.IsZero() {
		ms = t.UnixMilli()
	}
	return binary.BigEndian.AppendUint64(b, uint64(ms))
}

// headerTime decodes the time at off.
func headerTime(b string, off int) time.Time {
	ms := int64(beUint64(b[off:]))
	if ms == zeroTime {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func beUint64(b string) uint64 {
	_ = b[7]
	return uint64(b[7]) | uint64(b[6])<<8 | uint64(b[5])<<16 | uint64(b[4])<<24 |
		uint64(b[3])<<32 | uint64(b[2])<<40 | uint64(b[1])<<48 | uint64(b[0])<<56
}

// parsed is a session string split into its parts, without copying.
type parsed struct {
	b             string // the whole string
	tombstone     bool
	user, attrs   string // a record's
	values        string // a record's packed pairs
	to, sealed, m string // a tombstone's
}

// parse splits a session string. It is untrusted: anything malformed is an
// error matching ErrCorrupt, never a panic.
func parse(b string) (p parsed, err error) {
	if len(b) < headerLen {
		return p, fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(b))
	}
	p.b = b
	rest := b[headerLen:]
	cut := func(what string) string {
		if err != nil {
			return ""
		}
		var s string
		if s, rest, err = cutString(rest); err != nil {
			err = fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
		}
		return s
	}
	switch b[0] {
	case kindRecord:
		p.user, p.attrs = cut("user"), cut("attributes")
		p.values = rest
	case kindTombstone:
		p.tombstone = true
		p.to, p.sealed, p.m = cut("forward"), cut("sealed token"), cut("mark")
		if err == nil && rest != "" {
			err = fmt.Errorf("%w: %d bytes after a tombstone", ErrCorrupt, len(rest))
		}
	default:
		return p, fmt.Errorf("%w: kind %q", ErrCorrupt, b[0])
	}
	return p, err
}

// version is the record's version.
func (p parsed) version() uint64 { return beUint64(p.b[offVersion:]) }

// decodeString builds a record from a session string.
func decodeString(b string) (*store.Record, error) {
	p, err := parse(b)
	if err != nil {
		return nil, err
	}
	rec := &store.Record{
		Version:  p.version(),
		LastSeen: headerTime(b, offLast),
		Expires:  headerTime(b, offExpires),
		Created:  headerTime(b, offCreated),
	}
	if rec.Version == 0 {
		return nil, fmt.Errorf("%w: version 0", ErrCorrupt)
	}
	// The record keeps copies, not substrings of b: a cache that holds the
	// record (hybridstore) would otherwise hold all of b, header and
	// length prefixes included. Pairs in key order (as a commit leaves them
	// unless it added a key that sorts before another) are the Values' own
	// packing: one copy of everything after the header then serves the
	// user id, the attributes and the values.
	if p.tombstone {
		rec.Moved = &store.Moved{To: strings.Clone(p.to), Sealed: []byte(p.sealed)}
		return rec, nil
	}
	own := strings.Clone(b[headerLen:])
	user, rest, _ := cutString(own) // parse checked them
	attrs, values, _ := cutString(rest)
	if v, sorted := store.PackedValues(values); sorted {
		rec.Values = v
	} else {
		// The values get a copy of their own, sorted; the user id and the
		// attributes theirs, so that nothing keeps own.
		if rec.Values, err = decodeValues(values); err != nil {
			return nil, err
		}
		user, attrs = strings.Clone(user), strings.Clone(attrs)
	}
	rec.UserID = user
	if rec.Attrs, err = decodeAttrs(attrs); err != nil {
		return nil, err
	}
	return rec, nil
}

// decodeValues reads packed pairs that are not in key order into Values of
// their own. A key that appears twice is an error: no script writes one.
func decodeValues(rest string) (store.Values, error) {
	var vb store.ValuesBuilder
	seen := make(map[string]bool)
	for rest != "" {
		k, after, err := cutString(rest)
		if err != nil {
			return store.Values{}, fmt.Errorf("%w: value key: %w", ErrCorrupt, err)
		}
		v, after, err := cutString(after)
		if err != nil {
			return store.Values{}, fmt.Errorf("%w: value of %q: %w", ErrCorrupt, trunc(k), err)
		}
		if seen[k] {
			return store.Values{}, fmt.Errorf("%w: value key %q twice", ErrCorrupt, trunc(k))
		}
		seen[k] = true
		vb.Add(k, bytesOf(v)) // copied by vb.Values
		rest = after
	}
	return vb.Values(), nil
}

// scoreOf decodes an index score as the scripts reply it (the header's 8
// bytes), "" or a zero score for none.
func scoreOf(b string) (int64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	s := int64(beUint64(b))
	return s, s != 0
}
