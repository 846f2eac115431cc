package mongostore

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tether-go/tether/store"
)

// The document of one record. Field names are short because every record
// carries them; the values and attributes live in sub-documents of their
// own, so no user key can reach a metadata field.
const (
	fID       = "_id" // the record ID: a string
	fValues   = "v"   // sub-document: escaped key → binary value
	fSizes    = "n"   // sub-document: escaped key → int64, len(key)+len(value)
	fUser     = "u"   // binary user id; absent when the record has none
	fAttrs    = "a"   // sub-document: escaped key → string; absent when none
	fCreated  = "c"   // int64 Unix nanoseconds
	fLastSeen = "ls"  // int64 Unix nanoseconds
	fExpires  = "e"   // int64 Unix nanoseconds
	fReapAt   = "t"   // date: expiry plus reapGrace, for the TTL index and the reaper
	fVersion  = "ver" // int64
	fMovedTo  = "mt"  // string, present on a tombstone only; "" names the record's own ID (see endedTo)
	fSealed   = "ms"  // binary, the tombstone's sealed token
	fSize     = "sz"  // int64: store.Record.Size of the record
	fValSize  = "vsz" // int64: the part of sz that the values take
	fAttrSize = "asz" // int64: the part of sz that the attributes take
)

// escapeKey maps a value or attribute key to a field name MongoDB accepts in
// a sub-document and in an update path: non-empty, no '.', no '$', no NUL,
// valid UTF-8. '%' and those bytes become %XX (upper-case hex), every byte
// of an invalid UTF-8 sequence too, and the empty key becomes "%". '%' is
// itself escaped, so the mapping is injective: two keys never share a field,
// and unescapeKey inverts it. Keys without those bytes are stored as they
// are, so a document stays readable in the shell.
func escapeKey(k string) string {
	if k == "" {
		return "%"
	}
	clean := true
	for i := 0; i < len(k); i++ {
		if c := k[i]; c == '%' || c == '.' || c == '$' || c == 0 || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return k
	}
	var b strings.Builder
	b.Grow(len(k) + 8)
	for i := 0; i < len(k); {
		c := k[i]
		switch {
		case c == '%' || c == '.' || c == '$' || c == 0:
			fmt.Fprintf(&b, "%%%02X", c)
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(k[i:])
			if r == utf8.RuneError && n == 1 {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteString(k[i : i+n])
			}
			i += n
		}
	}
	return b.String()
}

var errBadKey = errors.New("mongostore: stored field name is not an escaped key")

// unescapeKey inverts escapeKey. A field name escapeKey cannot produce (one
// written by something else) is an error, not a guess.
func unescapeKey(f string) (string, error) {
	if f == "%" {
		return "", nil
	}
	if !strings.Contains(f, "%") {
		if f == "" || strings.ContainsAny(f, ".$\x00") {
			return "", errBadKey
		}
		return f, nil
	}
	b := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(f) {
			return "", errBadKey
		}
		hi, lo := unhex(f[i+1]), unhex(f[i+2])
		if hi < 0 || lo < 0 {
			return "", errBadKey
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	k := string(b)
	if escapeKey(k) != f {
		return "", errBadKey // not canonical: two fields could claim one key
	}
	return k, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// record is a record's document as the store reads it. Values, sizes and
// attributes stay raw until needed: a projection leaves out what a call
// does not need.
type record struct {
	ID       string   `bson:"_id"`
	Values   bson.Raw `bson:"v,omitempty"`
	Sizes    bson.Raw `bson:"n,omitempty"`
	User     []byte   `bson:"u,omitempty"`
	Attrs    bson.Raw `bson:"a,omitempty"`
	Created  int64    `bson:"c"`
	LastSeen int64    `bson:"ls"`
	Expires  int64    `bson:"e"`
	Version  int64    `bson:"ver"`
	MovedTo  *string  `bson:"mt,omitempty"`
	Sealed   []byte   `bson:"ms,omitempty"`
	Size     int64    `bson:"sz"`
	ValSize  int64    `bson:"vsz"`
	AttrSize int64    `bson:"asz"`
}

// live reports whether the record has not expired at now (Unix ns).
func (r *record) live(now int64) bool { return r.Expires > now }

// endedTo is the target DeleteUser stores in the tombstones it leaves: the
// empty string, which stands for the record's own ID. A tombstone that
// forwards nothing names its own ID (as a logout's Move does), but one
// updateMany cannot write each document's _id into another of its fields
// with update operators, only with a pipeline-style update, which FerretDB
// refuses; no Move ever stores "", since it refuses an invalid target. So
// every read that decodes a tombstone reads the document's _id with it
// (every projection of the store keeps _id) and resolves "" through
// movedTo.
const endedTo = ""

// movedTo returns the tombstone's target, its own ID for DeleteUser's "",
// or nil if r is not a tombstone. r must have been read with its _id.
func (r *record) movedTo() *string {
	if r.MovedTo != nil && *r.MovedTo == endedTo {
		return &r.ID
	}
	return r.MovedTo
}

// outcome is the contract's error for a write that needs a live record: nil
// if r (nil: none) is live at now and not a tombstone.
func (r *record) outcome(now int64) error {
	switch {
	case r == nil || !r.live(now):
		return store.ErrNotFound
	case r.MovedTo != nil:
		return &store.MovedError{Moved: store.Moved{To: *r.movedTo(), Sealed: r.Sealed}}
	}
	return nil
}

var errBadDoc = errors.New("mongostore: stored document has an unexpected shape")

// toRecord converts a loaded document into a store.Record.
func (r *record) toRecord() (*store.Record, error) {
	rec := &store.Record{
		UserID:   string(r.User),
		Created:  time.Unix(0, r.Created),
		LastSeen: time.Unix(0, r.LastSeen),
		Expires:  time.Unix(0, r.Expires),
		Version:  uint64(r.Version),
	}
	if r.MovedTo != nil {
		rec.Moved = &store.Moved{To: *r.movedTo(), Sealed: r.Sealed}
		return rec, nil
	}
	values, err := decodeValues(r.Values)
	if err != nil {
		return nil, err
	}
	rec.Values = store.ValuesOf(values)
	if rec.Attrs, err = decodeAttrs(r.Attrs); err != nil {
		return nil, err
	}
	return rec, nil
}

func decodeValues(raw bson.Raw) (map[string][]byte, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadDoc, err)
	}
	if len(elems) == 0 {
		return nil, nil
	}
	values := make(map[string][]byte, len(elems))
	for _, el := range elems {
		k, err := unescapeKey(el.Key())
		if err != nil {
			return nil, err
		}
		_, data, ok := el.Value().BinaryOK()
		if !ok {
			return nil, fmt.Errorf("%w: value %q is not binary", errBadDoc, k)
		}
		values[k] = append([]byte{}, data...) // the raw document's buffer is the driver's
	}
	return values, nil
}

func decodeAttrs(raw bson.Raw) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadDoc, err)
	}
	if len(elems) == 0 {
		return nil, nil
	}
	attrs := make(map[string]string, len(elems))
	for _, el := range elems {
		k, err := unescapeKey(el.Key())
		if err != nil {
			return nil, err
		}
		v, ok := el.Value().StringValueOK()
		if !ok {
			return nil, fmt.Errorf("%w: attribute %q is not a string", errBadDoc, k)
		}
		attrs[k] = v
	}
	return attrs, nil
}

// sizeOf returns the size a stored key's entry in the sizes sub-document
// says, and whether there is one.
func sizeOf(sizes bson.Raw, field string) (int64, bool, error) {
	if len(sizes) == 0 {
		return 0, false, nil
	}
	v, err := sizes.LookupErr(field)
	if err != nil {
		return 0, false, nil
	}
	n, ok := v.AsInt64OK()
	if !ok {
		return 0, false, fmt.Errorf("%w: size of %q is not a number", errBadDoc, field)
	}
	return n, true, nil
}

// attrsDoc returns the attributes as a sub-document (nil for none) and the
// bytes they count in store.Record.Size.
func attrsDoc(attrs map[string]string) (bson.D, int64) {
	if len(attrs) == 0 {
		return nil, 0
	}
	d := make(bson.D, 0, len(attrs))
	var n int64
	for k, v := range attrs {
		d = append(d, bson.E{Key: escapeKey(k), Value: v})
		n += int64(len(k) + len(v))
	}
	return d, n
}

func binData(b []byte) bson.Binary {
	if b == nil {
		b = []byte{}
	}
	return bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: b}
}

// reapAt is when a record expiring at e (Unix ns) may be deleted.
func reapAt(e int64) time.Time { return time.Unix(0, e).Add(reapGrace) }
