package redisstore

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// The commit script reads its control block with
// struct.unpack('>BBBBc1c2c2i8i8i8i8i8i8', ctl) and the header's slots from
// the byte after: 57 bytes, then 32. A block of another length would shift
// every slot the script writes into the session's header.
func TestCommitControlLayout(t *testing.T) {
	s := &Store{cfg: config{maxRecordSize: 5000}}
	now := time.UnixMilli(1_765_000_000_123)
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(time.Second))
	defer cancel()
	changes := []store.Change{
		{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), SetUserID: true, UserID: "alice"},
		{Mode: store.Update, LiveAt: now, LastSeen: now, Expires: now.Add(time.Hour), SetAttrs: true, Attrs: map[string]string{"a": "b"}},
		{Mode: store.Update, Clear: true, Delete: []string{"x", "y"}},
	}
	for i, c := range changes {
		attrs := attrsArg{field: "\x01a\x01b", size: 2}
		b := s.commitControl(ctx, &c, attrs, int64(42), 3, 77)
		if len(b) != commitControlSize || commitControlSize != 57+32 {
			t.Fatalf("change %d: control block of %d bytes (commitControlSize %d), want 57+32", i, len(b), commitControlSize)
		}
		create := c.Mode == store.Create
		wantFlags := []bool{create, c.Clear && !create, create || c.SetUserID, false}
		for j, want := range wantFlags {
			if got := b[j] == 1; got != want || b[j] > 1 {
				t.Errorf("change %d: flag %d = %d, want %v", i, j, b[j], want)
			}
		}
		num := func(k int) int64 { return int64(binary.BigEndian.Uint64(b[9+8*k:])) }
		if got, want := num(0), now.Add(time.Second).UnixMilli(); got != want {
			t.Errorf("change %d: deadline %d, want %d", i, got, want)
		}
		if got, want := num(2), int64(5000); got != want {
			t.Errorf("change %d: limit %d, want %d", i, got, want)
		}
		if got := num(4); got != 3 {
			t.Errorf("change %d: deleted keys %d, want 3", i, got)
		}
		if got := num(5); got != 77 {
			t.Errorf("change %d: version step %d, want 77", i, got)
		}
		if got := int64(binary.BigEndian.Uint64(b[57+24:])); got != 42 {
			t.Errorf("change %d: score slot %d, want 42", i, got)
		}
	}
}
