package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// wantValues checks that rec holds exactly want, byte for byte, telling an
// empty value from a missing one.
func wantValues(t *testing.T, rec *store.Record, want map[string][]byte) {
	t.Helper()
	for k, w := range want {
		g, ok := rec.Values.Lookup(k)
		switch {
		case !ok:
			t.Errorf("value %q missing", k)
		case !bytes.Equal(g, w):
			t.Errorf("value %q = %q, want %q", k, trunc(g), trunc(w))
		}
	}
	for k := range rec.Values.Keys() {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected value %q = %q", k, trunc(rec.Values.Get(k)))
		}
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:64:64], "…"...)
	}
	return b
}

// timePrecision is how far a stored time may come back from the time given:
// backends may keep milliseconds only, truncating or rounding.
const timePrecision = time.Millisecond

// sameTime reports whether got is within timePrecision of want. Location and
// monotonic clock readings need not survive a store.
func sameTime(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -timePrecision && d < timePrecision
}

func wantTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if !sameTime(got, want) {
		t.Errorf("%s = %v, want %v (±%v)", field, got, want, timePrecision)
	}
}

func wantErr(t *testing.T, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", op, err, target)
	}
}

// wantMoved checks that err is a *store.MovedError forwarding to m.
func wantMoved(t *testing.T, op string, err error, m store.Moved) {
	t.Helper()
	me, ok := store.IsMoved(err)
	if !ok {
		t.Errorf("%s: error %v, want a *store.MovedError", op, err)
		return
	}
	if me.Moved.To != m.To || !bytes.Equal(me.Moved.Sealed, m.Sealed) {
		t.Errorf("%s: MovedError forwards to %q sealed %x, want %q sealed %x", op, me.Moved.To, me.Moved.Sealed, m.To, m.Sealed)
	}
}

// cloneRecord deep-copies r, to check later that r did not change.
func cloneRecord(r *store.Record) *store.Record {
	c := *r
	c.Values = store.ValuesOf(r.Values.Map()) // copies the bytes
	if r.Moved != nil {
		m := *r.Moved
		m.Sealed = bytes.Clone(m.Sealed)
		c.Moved = &m
	}
	c.Attrs = maps.Clone(r.Attrs)
	return &c
}

// wantSameRecord checks that got is exactly want: same values, metadata and
// times to the nanosecond. It is for records that must not have changed.
func wantSameRecord(t *testing.T, what string, got, want *store.Record) {
	t.Helper()
	if !sameRecord(got, want) {
		t.Errorf("%s changed:\n got  %s\n want %s", what, describe(got), describe(want))
	}
}

// sameRecord reports whether got is exactly want (see wantSameRecord).
func sameRecord(got, want *store.Record) bool {
	same := got.Version == want.Version && got.UserID == want.UserID &&
		got.Created.Equal(want.Created) && got.LastSeen.Equal(want.LastSeen) && got.Expires.Equal(want.Expires) &&
		(got.Moved == nil) == (want.Moved == nil) && got.Values.Len() == want.Values.Len()
	same = same && maps.Equal(got.Attrs, want.Attrs)
	if same && got.Moved != nil {
		same = got.Moved.To == want.Moved.To && bytes.Equal(got.Moved.Sealed, want.Moved.Sealed)
	}
	for k, v := range want.Values.All() {
		if g, ok := got.Values.Lookup(k); !ok || !bytes.Equal(g, v) {
			same = false
		}
	}
	return same
}

func describe(r *store.Record) string {
	if r == nil {
		return "nil"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{Version:%d UserID:%q Created:%v LastSeen:%v Expires:%v", r.Version, r.UserID, r.Created, r.LastSeen, r.Expires)
	for k := range r.Values.Keys() { // in key order
		fmt.Fprintf(&b, " %q=%q", k, trunc(r.Values.Get(k)))
	}
	if r.Moved != nil {
		fmt.Fprintf(&b, " Moved:%s/%x", r.Moved.To, r.Moved.Sealed)
	}
	if len(r.Attrs) > 0 {
		fmt.Fprintf(&b, " Attrs:%q", r.Attrs)
	}
	b.WriteString("}")
	return b.String()
}
