package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tether-go/tether/store"
)

// Record encoding, version 1. Every integer is a varint; every string and
// byte string is its length (uvarint) then its bytes.
//
//	byte    format (1)
//	byte    flags (bit 0: tombstone; other bits must be 0)
//	uvarint version
//	time    created, last seen, expires: varint Unix seconds, uvarint nanoseconds (< 1e9)
//	string  user id
//	tombstone only: string To, bytes Sealed
//	uvarint number of values, then each: string key, bytes value
//
// Version 2 adds the record's attributes ([store.Record.Attrs]): it is
// version 1 with a format byte of 2 and, between the tombstone fields and the
// values,
//
//	uvarint number of attributes (at least 1), then each, in increasing key
//	        order: string key, string value
//
// A record without attributes is written in version 1, as the previous
// release wrote every record, so that a file whose sessions never had
// attributes still opens with that release (a rollback); a record with
// attributes in version 2. Both decode; a version-1 record has none. The
// attributes come before the values so that [decodeMeta] can read them
// without copying the values.
//
// Nothing may follow. The decoder checks every length against the bytes left
// before it allocates, so no input makes it allocate more than the input's
// size or panic.
const (
	recordFormat      = 1
	recordFormatAttrs = 2
	flagTombstone     = 1
	knownFlags        = flagTombstone
	maxNanoseconds    = 1e9
)

// errDecode marks bytes that are not a record, an expiry key or a user key.
var errDecode = errors.New("malformed")

func decodeErr(what string) error { return fmt.Errorf("%w: %s", errDecode, what) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// encodeRecord returns rec's encoding.
func encodeRecord(rec *store.Record) []byte {
	n := 64 + rec.Size() + 10*rec.Values.Len() + 10*len(rec.Attrs)
	b := make([]byte, 0, n)
	flags := byte(0)
	if rec.Moved != nil {
		flags |= flagTombstone
	}
	format := byte(recordFormat)
	if len(rec.Attrs) > 0 {
		format = recordFormatAttrs
	}
	b = append(b, format, flags)
	b = binary.AppendUvarint(b, rec.Version)
	b = appendTime(b, rec.Created)
	b = appendTime(b, rec.LastSeen)
	b = appendTime(b, rec.Expires)
	b = appendString(b, rec.UserID)
	if rec.Moved != nil {
		b = appendString(b, rec.Moved.To)
		b = appendBytes(b, rec.Moved.Sealed)
	}
	if format == recordFormatAttrs {
		b = binary.AppendUvarint(b, uint64(len(rec.Attrs)))
		for _, k := range slices.Sorted(maps.Keys(rec.Attrs)) {
			b = appendString(b, k)
			b = appendString(b, rec.Attrs[k])
		}
	}
	b = binary.AppendUvarint(b, uint64(rec.Values.Len()))
	for k, v := range rec.Values.All() {
		b = appendString(b, k)
		b = appendBytes(b, v)
	}
	return b
}

// decoder reads an encoding; the first failure sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = decodeErr(what)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next length-prefixed bytes, copied: the caller's slice
// is bbolt's memory map, valid only during the transaction.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what + " length")
		return nil
	}
	out := make([]byte, n)
	copy(out, d.b)
	d.b = d.b[n:]
	return out
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(what + " length")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time(what string) time.Time {
	sec := d.varint(what)
	nsec := d.uvarint(what)
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= maxNanoseconds {
		d.fail(what + " nanoseconds")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// decodeRecord decodes an encoding made by encodeRecord, in either version,
// or returns an error matching errDecode.
func decodeRecord(b []byte) (*store.Record, error) {
	return decode(b, true)
}

// decodeMeta decodes what decodeRecord does except the values, for
// UserSessions: the record has nil Values. It checks the values' framing
// (every length, the count, nothing after them) without copying them, but
// not that their keys are distinct, which needs a set of them; Open checks
// every record with decodeRecord.
func decodeMeta(b []byte) (*store.Record, error) {
	return decode(b, false)
}

func decode(b []byte, withValues bool) (*store.Record, error) {
	d := &decoder{b: b}
	format := d.byte("format")
	if d.err == nil && format != recordFormat && format != recordFormatAttrs {
		return nil, decodeErr(fmt.Sprintf("unknown format %d", format))
	}
	flags := d.byte("flags")
	if flags&^knownFlags != 0 {
		d.fail("unknown flags")
	}
	rec := &store.Record{Version: d.uvarint("version")}
	rec.Created = d.time("created")
	rec.LastSeen = d.time("last seen")
	rec.Expires = d.time("expires")
	rec.UserID = d.string("user id")
	if flags&flagTombstone != 0 {
		rec.Moved = &store.Moved{To: d.string("moved to"), Sealed: d.bytes("sealed")}
	}
	if format == recordFormatAttrs {
		rec.Attrs = d.attrs()
	}
	n := d.count("value count")
	if d.err == nil && n > 0 && withValues {
		var values store.ValuesBuilder
		for range n {
			k := d.string("key")
			v := d.bytes("value")
			if d.err != nil {
				break
			}
			values.Add(k, v)
		}
		// The builder keeps one value per key: fewer keys than pairs
		// means the encoding repeated one.
		if rec.Values = values.Values(); d.err == nil && uint64(rec.Values.Len()) != n {
			d.fail("duplicate key")
		}
	} else {
		for range n {
			d.skip("key")
			d.skip("value")
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return rec, nil
}

// count reads the number of key-value pairs that follow. Each takes at least
// two bytes (two zero lengths), so a larger count than half the bytes left
// is refused before anything is sized by it.
func (d *decoder) count(what string) uint64 {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b))/2 {
		d.fail(what)
	}
	if d.err != nil {
		return 0
	}
	return n
}

// attrs reads a version-2 record's attributes: at least one, keys in
// strictly increasing order (which also refuses duplicates).
func (d *decoder) attrs() map[string]string {
	n := d.count("attribute count")
	if d.err == nil && n == 0 {
		d.fail("attribute count 0 in a format-2 record")
	}
	if d.err != nil {
		return nil
	}
	attrs := make(map[string]string, n)
	prev := ""
	for i := range n {
		k := d.string("attribute key")
		v := d.string("attribute value")
		if d.err != nil {
			return nil
		}
		if i > 0 && k <= prev {
			d.fail("attribute keys out of order")
			return nil
		}
		prev = k
		attrs[k] = v
	}
	return attrs
}

// skip passes over a length-prefixed field without copying it.
func (d *decoder) skip(what string) {
	n := d.uvarint(what)
	if d.err != nil {
		return
	}
	if n > uint64(len(d.b)) {
		d.fail(what + " length")
		return
	}
	d.b = d.b[n:]
}

// Expiry index keys: the expiry as 8 bytes big-endian Unix seconds with the
// sign bit flipped (so that byte order is time order, before 1970 too), 4
// bytes big-endian nanoseconds, then the record's ID. A cursor walks them in
// expiry order, so the reaper reads expired records only.
const expiryPrefixLen = 12

func expiryKey(expires time.Time, id string) []byte {
	b := make([]byte, expiryPrefixLen, expiryPrefixLen+len(id))
	binary.BigEndian.PutUint64(b, uint64(expires.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(expires.Nanosecond()))
	return append(b, id...)
}

// parseExpiryKey splits an expiry index key.
func parseExpiryKey(k []byte) (time.Time, string, error) {
	if len(k) <= expiryPrefixLen {
		return time.Time{}, "", decodeErr("expiry key length")
	}
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	nsec := binary.BigEndian.Uint32(k[8:])
	if nsec >= maxNanoseconds {
		return time.Time{}, "", decodeErr("expiry key nanoseconds")
	}
	return time.Unix(sec, int64(nsec)).UTC(), string(k[expiryPrefixLen:]), nil
}

// User index keys: the user id's length (uvarint), the user id, then the
// record's ID, so that a user's entries are one key range: the prefix
// userPrefix(user), which no other user's keys share.
func userPrefix(user string) []byte {
	return appendString(make([]byte, 0, binary.MaxVarintLen64+len(user)+64), user)
}

func userKey(user, id string) []byte {
	return append(userPrefix(user), id...)
}

// parseUserKey splits a user index key.
func parseUserKey(k []byte) (user, id string, err error) {
	d := &decoder{b: k}
	user = d.string("user id")
	if d.err != nil {
		return "", "", d.err
	}
	if len(d.b) == 0 {
		return "", "", decodeErr("user key without id")
	}
	return user, string(d.b), nil
}
