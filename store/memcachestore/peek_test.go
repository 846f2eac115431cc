package memcachestore

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/store"
)

func sampleRecords() []*store.Record {
	now := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	return []*store.Record{
		{},
		{Version: 1, Expires: now},
		{Version: 300, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: "u", Values: store.ValuesOf(map[string][]byte{"a": []byte("1")})},
		{Version: 1 << 40, Created: now, Expires: now.Add(time.Minute), Moved: &store.Moved{To: "x", Sealed: []byte{1, 2}}},
		{Version: 7, LastSeen: now, Expires: time.Unix(-5, 0)},
		{Version: 9, Created: now, Expires: now.Add(time.Hour), UserID: "u", Attrs: map[string]string{"device": "phone"}},
		{Version: 2, Attrs: map[string]string{"$where": "x"}},
	}
}

func TestPeekHeader(t *testing.T) {
	for _, rec := range sampleRecords() {
		h, err := peekHeader(recordcodec.Marshal(rec))
		if err != nil {
			t.Fatalf("peekHeader of %+v: %v", rec, err)
		}
		if h.version != rec.Version || !h.expires.Equal(rec.Expires) {
			t.Errorf("peekHeader of %+v = %+v", rec, h)
		}
	}
	for _, b := range [][]byte{nil, {1}, {1, 0}, {1, 0, 1}, {1, 0xf0, 1}, {9, 0, 1}, {2}, {2, 0}, {2, 0, 1}, {2, 0xf0, 1}} {
		if h, err := peekHeader(b); err == nil {
			t.Errorf("peekHeader(%x) = %+v, want an error", b, h)
		}
	}
}

// FuzzPeekHeader checks peekHeader against the real decoder: on every input
// recordcodec.Unmarshal accepts, they agree; on any input, no panic.
func FuzzPeekHeader(f *testing.F) {
	for _, rec := range sampleRecords() {
		f.Add(recordcodec.Marshal(rec))
	}
	f.Add([]byte{1, 0x0f})
	f.Add([]byte{2, 0x0f, 1, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, herr := peekHeader(b)
		rec, err := recordcodec.Unmarshal(b)
		if err != nil {
			return
		}
		if herr != nil {
			t.Fatalf("Unmarshal accepts %x, peekHeader: %v", b, herr)
		}
		if h.version != rec.Version || !h.expires.Equal(rec.Expires) {
			t.Fatalf("peekHeader = %d %v, Unmarshal = %d %v", h.version, h.expires, rec.Version, rec.Expires)
		}
	})
}
