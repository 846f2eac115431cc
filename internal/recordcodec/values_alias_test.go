package recordcodec_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/store"
)

// Unmarshal's values do not alias its input (a memcache item buffer the
// client may reuse); empty and missing stay apart; lengths past one and two
// varint bytes round-trip; keys out of order are refused.
func TestUnmarshalOwnsValues(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 20000)
	rec := &store.Record{Version: 3, UserID: "u", Expires: time.Unix(100, 0).UTC(),
		Values: store.ValuesOf(map[string][]byte{"e": {}, "big": big, "k": []byte("v")})}
	b := recordcodec.Marshal(rec)
	got, err := recordcodec.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xee // the buffer is reused
	}
	if v, ok := got.Values.Lookup("e"); !ok || v == nil || len(v) != 0 {
		t.Errorf("empty value: %q %v", v, ok)
	}
	if got.Values.Has("missing") || !bytes.Equal(got.Values.Get("big"), big) || string(got.Values.Get("k")) != "v" {
		t.Errorf("values follow the reused buffer or are lost: %d keys", got.Values.Len())
	}
	meta, err := recordcodec.UnmarshalMeta(recordcodec.Marshal(rec))
	if err != nil || !meta.Values.Empty() || meta.UserID != "u" {
		t.Errorf("meta: %v %v", meta, err)
	}
	// Swap the two one-byte keys "e" and "k" in the encoding: refused.
	enc := recordcodec.Marshal(&store.Record{Version: 1, Values: store.ValuesOf(map[string][]byte{"a": []byte("1"), "b": []byte("2")})})
	i := bytes.LastIndex(enc, []byte{1, 'a', 1, '1', 1, 'b', 1, '2'})
	if i < 0 {
		t.Fatalf("layout: %x", enc)
	}
	copy(enc[i:], []byte{1, 'b', 1, '2', 1, 'a', 1, '1'})
	if _, err := recordcodec.Unmarshal(enc); err == nil {
		t.Error("keys out of order accepted")
	}
}
