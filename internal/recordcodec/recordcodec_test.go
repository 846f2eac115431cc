package recordcodec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func sampleRecords() map[string]*store.Record {
	return map[string]*store.Record{
		"empty": {},
		"session": {
			Values: store.ValuesOf(map[string][]byte{
				"cart":  []byte(`{"items":[1,2,3]}`),
				"empty": {},
				"nul":   {0, 0xff, 0xfe, 0},
				"ключ":  []byte("значение"),
			}),
			UserID:   "alice",
			Created:  t0,
			LastSeen: t0.Add(time.Minute),
			Expires:  t0.Add(time.Hour),
			Version:  42,
		},
		"tombstone": {
			Created:  t0,
			LastSeen: t0,
			Expires:  t0.Add(30 * time.Second),
			Version:  7,
			Moved:    &store.Moved{To: strings.Repeat("ab", 32), Sealed: []byte{1, 0, 2, 0xff}},
		},
		"tombstone-empty-sealed": {
			Expires: t0,
			Version: 1,
			Moved:   &store.Moved{To: "x"},
		},
		"zero-times": {
			Values:  store.ValuesOf(map[string][]byte{"k": []byte("v")}),
			Version: 1,
		},
		"epoch-and-extremes": {
			Created:  time.Unix(0, 0),
			LastSeen: time.Unix(0, -1),
			Expires:  time.Unix(0, 1<<62),
			Version:  1<<64 - 1,
		},
		"hostile-keys": {
			Values: store.ValuesOf(map[string][]byte{
				"a:b": []byte("1"), "{slot}": []byte("2"), "%s": []byte("3"),
				"' OR 1=1 --": []byte("4"), strings.Repeat("k", store.MaxKeyLen): []byte("5"),
			}),
			UserID:  "u:{x} y",
			Version: 3,
		},
		"attrs": {
			Values:   store.ValuesOf(map[string][]byte{"k": []byte("v")}),
			UserID:   "alice",
			Created:  t0,
			LastSeen: t0,
			Expires:  t0.Add(time.Hour),
			Version:  2,
			Attrs:    map[string]string{"device": "Alice's laptop", "ip": "2001:db8::1"},
		},
		"attrs-no-values": {
			Expires: t0,
			Version: 1,
			Attrs:   map[string]string{"device": ""},
		},
		"hostile-attrs": {
			Values: store.ValuesOf(map[string][]byte{"a": nil}),
			Attrs: map[string]string{
				"$where": "function() { return true }", "a.b": "dotted", "": "empty key", "empty": "",
				`"quoted'`: `'); DROP TABLE sessions; --`, "ключ": "значение ✓", "%s%n": "\\x00",
				strings.Repeat("k", 64): strings.Repeat("v", 256), "nul\x00": "\x00\xff",
			},
			Version: 5,
		},
	}
}

// equalRecords compares records the way a decoded record must match the
// original: times by instant, nil and empty maps alike, bytes exactly.
func equalRecords(a, b *store.Record) error {
	switch {
	case a.Version != b.Version:
		return fmt.Errorf("Version %d != %d", a.Version, b.Version)
	case a.UserID != b.UserID:
		return fmt.Errorf("UserID %q != %q", a.UserID, b.UserID)
	case !a.Created.Equal(b.Created) || a.Created.IsZero() != b.Created.IsZero():
		return fmt.Errorf("Created %v != %v", a.Created, b.Created)
	case !a.LastSeen.Equal(b.LastSeen) || a.LastSeen.IsZero() != b.LastSeen.IsZero():
		return fmt.Errorf("LastSeen %v != %v", a.LastSeen, b.LastSeen)
	case !a.Expires.Equal(b.Expires) || a.Expires.IsZero() != b.Expires.IsZero():
		return fmt.Errorf("Expires %v != %v", a.Expires, b.Expires)
	case (a.Moved == nil) != (b.Moved == nil):
		return fmt.Errorf("Moved %v != %v", a.Moved, b.Moved)
	case a.Moved != nil && (a.Moved.To != b.Moved.To || !bytes.Equal(a.Moved.Sealed, b.Moved.Sealed)):
		return fmt.Errorf("Moved %+v != %+v", *a.Moved, *b.Moved)
	case a.Values.Len() != b.Values.Len():
		return fmt.Errorf("%d values != %d", a.Values.Len(), b.Values.Len())
	case len(a.Attrs) != len(b.Attrs) || !maps.Equal(a.Attrs, b.Attrs):
		return fmt.Errorf("Attrs %q != %q", a.Attrs, b.Attrs)
	}
	for k, av := range a.Values.All() {
		bv, ok := b.Values.Lookup(k)
		if !ok || !bytes.Equal(av, bv) {
			return fmt.Errorf("value %q: %q != %q (present %v)", k, av, bv, ok)
		}
	}
	return nil
}

// decoders are the two entry points, which accept and refuse the same inputs.
var decoders = map[string]func([]byte) (*store.Record, error){
	"Unmarshal":     Unmarshal,
	"UnmarshalMeta": UnmarshalMeta,
}

func TestRoundTrip(t *testing.T) {
	for name, r := range sampleRecords() {
		t.Run(name, func(t *testing.T) {
			b := Marshal(r)
			want := byte(FormatV1)
			if len(r.Attrs) > 0 {
				want = FormatVersion
			}
			if b[0] != want {
				t.Fatalf("first byte %d, want format version %d", b[0], want)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if err := equalRecords(r, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(Marshal(got), b) {
				t.Fatal("re-encoding the decoded record gives different bytes")
			}
		})
	}
}

// goldenV1 is sampleRecords()["session"] as the previous release (format 1
// only, before attributes) encoded it, written down byte for byte.
var goldenV1 = mustHex("01002a988de1988cfad9ac3098ed9b9dcbfdd9ac30988da6a4d2cbdbac3005616c696365040463617274117b226974656d73223a5b312c322c335d7d05656d70747900036e756c0400fffe0008d0bad0bbd18ed18710d0b7d0bdd0b0d187d0b5d0bdd0b8d0b5")

// goldenV1Tombstone is sampleRecords()["tombstone"], likewise.
var goldenV1Tombstone = mustHex("010107988de1988cfad9ac30988de1988cfad9ac3098bdfedaebfbd9ac3000406162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616204010002ff00")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Records written by the previous release decode, with no attributes, and a
// record without attributes is still written in its format, byte for byte,
// so that processes of that release read it during a rolling upgrade.
func TestPreviousFormat(t *testing.T) {
	for name, golden := range map[string][]byte{"session": goldenV1, "tombstone": goldenV1Tombstone} {
		want := sampleRecords()[name]
		for dn, decode := range decoders {
			got, err := decode(golden)
			if err != nil {
				t.Fatalf("%s of the previous release's %s: %v", dn, name, err)
			}
			if got.Attrs != nil {
				t.Errorf("%s: %s has attributes %q", dn, name, got.Attrs)
			}
			if dn == "UnmarshalMeta" {
				got.Values = want.Values
			}
			if err := equalRecords(want, got); err != nil {
				t.Errorf("%s of the previous release's %s: %v", dn, name, err)
			}
		}
		if b := Marshal(want); !bytes.Equal(b, golden) {
			t.Errorf("%s without attributes encodes to %x, not the previous release's %x", name, b, golden)
		}
	}
	// An empty, non-nil map is no attributes, too.
	r := sampleRecords()["session"]
	r.Attrs = map[string]string{}
	if b := Marshal(r); !bytes.Equal(b, goldenV1) {
		t.Errorf("empty Attrs encodes to %x, want format 1", b)
	}
}

// goldenV2 is sampleRecords()["attrs"] in format 2, written down so that a
// later change of the format cannot go unnoticed: records in it must keep
// decoding after an upgrade.
var goldenV2 = mustHex("020002988de1988cfad9ac30988de1988cfad9ac30988da6a4d2cbdbac3005616c69636502066465766963650e416c6963652773206c6170746f700269700b323030313a6462383a3a3101016b0176")

func TestFormat2Golden(t *testing.T) {
	want := sampleRecords()["attrs"]
	if b := Marshal(want); !bytes.Equal(b, goldenV2) {
		t.Errorf("format 2 changed: %x, was %x", b, goldenV2)
	}
	got, err := Unmarshal(goldenV2)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalRecords(want, got); err != nil {
		t.Error(err)
	}
}

func TestUnmarshalMeta(t *testing.T) {
	for name, r := range sampleRecords() {
		b := Marshal(r)
		got, err := UnmarshalMeta(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Values.Empty() {
			t.Errorf("%s: UnmarshalMeta returned values", name)
		}
		got.Values = r.Values
		if err := equalRecords(r, got); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if got.Moved != nil {
			for i := range b {
				b[i] = 0xAA
			}
			if !bytes.Equal(got.Moved.Sealed, r.Moved.Sealed) {
				t.Errorf("%s: UnmarshalMeta's sealed token aliases its input", name)
			}
		}
	}
}

// UnmarshalMeta does not copy the values: decoding a record with a large
// value allocates far less than the value.
func TestUnmarshalMetaSkipsValues(t *testing.T) {
	r := sampleRecords()["attrs"]
	r.Values = store.ValuesOf(map[string][]byte{"big": bytes.Repeat([]byte("x"), 1<<20)})
	b := Marshal(r)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 10
	for range runs {
		if _, err := UnmarshalMeta(b); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4096 {
		t.Errorf("UnmarshalMeta allocated %d bytes per decode of a record with a 1 MiB value", per)
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	r := sampleRecords()["session"]
	b := Marshal(r)
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xAA
	}
	if err := equalRecords(r, got); err != nil {
		t.Fatalf("decoded record changed with its input: %v", err)
	}
	// Appending to one decoded value must not overwrite the next one.
	v := got.Values.Get("cart")
	_ = append(v, "XXXXXXXXXXXXXXXX"...)
	if err := equalRecords(r, got); err != nil {
		t.Fatalf("append to a decoded value changed the record: %v", err)
	}
}

func TestEmptyValueDistinctFromMissing(t *testing.T) {
	got, err := Unmarshal(Marshal(&store.Record{Values: store.ValuesOf(map[string][]byte{"e": nil})}))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Values.Lookup("e"); !ok || v == nil || len(v) != 0 {
		t.Fatalf("empty value came back as %#v (present %v), want a non-nil empty slice", v, ok)
	}
}

func TestMarshalDeterministic(t *testing.T) {
	r := sampleRecords()["hostile-keys"]
	want := Marshal(r)
	for range 20 {
		if !bytes.Equal(Marshal(r), want) {
			t.Fatal("Marshal output depends on map iteration order")
		}
	}
}

func TestTimesOutsideNanoRangeSaturate(t *testing.T) {
	r := &store.Record{
		Created: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), // not zero, before 1678
		Expires: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	got, err := Unmarshal(Marshal(r))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(minNanoTime) || !got.Expires.Equal(maxNanoTime) {
		t.Fatalf("got %v, %v; want the ends of the nanosecond range", got.Created, got.Expires)
	}
	if !got.LastSeen.IsZero() {
		t.Fatalf("zero LastSeen came back as %v", got.LastSeen)
	}
}

// header builds the start of a version-1 encoding with the given flags and
// zero times, for hand-made hostile inputs.
func header(flags byte) []byte {
	return []byte{FormatV1, flags | flagZeroCreated | flagZeroLastSeen | flagZeroExpires, 1}
}

// header2 is header for a version-2 encoding.
func header2(flags byte) []byte {
	h := header(flags)
	h[0] = FormatVersion
	return h
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func TestUnmarshalRejects(t *testing.T) {
	valid := Marshal(sampleRecords()["session"])
	validAttrs := Marshal(sampleRecords()["attrs"])
	huge := uv(1<<63 + 12345)
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error
	}{
		{"nil", nil, "empty input"},
		{"unknown version", []byte{3, 0}, "unsupported format version 3"},
		{"version zero", []byte{0}, "unsupported format version 0"},
		{"no flags", []byte{FormatV1}, "truncated flags"},
		{"no flags v2", []byte{FormatVersion}, "truncated flags"},
		{"unknown flag", []byte{FormatV1, 0x10}, "unknown flags"},
		{"unknown flag v2", []byte{FormatVersion, 0x10}, "unknown flags"},
		{"no version", []byte{FormatV1, flagZeroCreated | flagZeroLastSeen | flagZeroExpires}, "bad version"},
		{"overlong varint", cat([]byte{FormatV1, 0}, bytes.Repeat([]byte{0xff}, 11)), "bad version"},
		{"truncated time", []byte{FormatV1, 0, 1, 0x80}, "bad created time"},
		{"huge user id", cat(header(0), huge), "bad user id"},
		{"user id past end", cat(header(0), uv(5), []byte("abc")), "bad user id"},
		{"huge moved-to", cat(header(flagMoved), uv(0), huge), "bad moved-to id"},
		{"huge sealed", cat(header(flagMoved), uv(0), uv(1), []byte("x"), huge), "bad sealed token"},
		{"no value count", cat(header(0), uv(0)), "bad value count"},
		{"huge value count", cat(header(0), uv(0), huge), "exceeds"},
		{"count over remaining", cat(header(0), uv(0), uv(3), uv(0), uv(0), uv(0), uv(0)), "exceeds"},
		{"huge key", cat(header(0), uv(0), uv(1), huge, uv(0)), "bad key"},
		{"huge value", cat(header(0), uv(0), uv(1), uv(1), []byte("k"), huge), "bad value 0"},
		{"duplicate key", cat(header(0), uv(0), uv(2), uv(1), []byte("k"), uv(0), uv(1), []byte("k"), uv(0)), "duplicate key"},
		{"keys out of order", cat(header(0), uv(0), uv(2), uv(1), []byte("b"), uv(0), uv(1), []byte("a"), uv(0)), "out of order"},
		{"no attribute count", cat(header2(0), uv(0)), "bad attribute count"},
		{"zero attributes", cat(header2(0), uv(0), uv(0), uv(0)), "attribute count 0"},
		{"huge attribute count", cat(header2(0), uv(0), huge), "attribute count"},
		{"attribute count over remaining", cat(header2(0), uv(0), uv(2), uv(0), uv(0), uv(0)), "exceeds"},
		{"huge attribute key", cat(header2(0), uv(0), uv(1), huge, uv(0), uv(0)), "bad key of attribute 0"},
		{"huge attribute", cat(header2(0), uv(0), uv(1), uv(1), []byte("k"), huge, uv(0)), "bad attribute 0"},
		{"duplicate attribute", cat(header2(0), uv(0), uv(2), uv(1), []byte("k"), uv(0), uv(1), []byte("k"), uv(0), uv(0)), "duplicate key \"k\" of attribute 1"},
		{"attributes out of order", cat(header2(0), uv(0), uv(2), uv(1), []byte("b"), uv(0), uv(1), []byte("a"), uv(0), uv(0)), "attribute key \"a\" out of order"},
		{"attributes without values count", cat(header2(0), uv(0), uv(1), uv(0), uv(0)), "bad value count"},
		{"v2 tombstone huge sealed", cat(header2(flagMoved), uv(0), uv(1), []byte("x"), huge), "bad sealed token"},
		{"trailing byte", cat(valid, []byte{0}), "1 trailing bytes"},
		{"trailing garbage", cat(valid, []byte("garbage")), "7 trailing bytes"},
		{"trailing byte v2", cat(validAttrs, []byte{0}), "1 trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, decode := range decoders {
				r, err := decode(tt.in)
				if err == nil {
					t.Fatalf("%s decoded %+v, want an error", name, r)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s: error %v does not match ErrCorrupt", name, err)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("%s: error %q does not mention %q", name, err, tt.want)
				}
			}
		})
	}
}

func TestUnmarshalTruncatedEverywhere(t *testing.T) {
	for name, r := range sampleRecords() {
		b := Marshal(r)
		for i := range len(b) {
			for dn, decode := range decoders {
				if got, err := decode(b[:i]); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: %s truncated to %d of %d bytes: got %+v, %v; want ErrCorrupt", dn, name, i, len(b), got, err)
				}
			}
		}
	}
}

func TestUnmarshalAllocationBounded(t *testing.T) {
	// Short inputs declaring enormous lengths or counts must fail without
	// allocating by the declared sizes.
	inputs := [][]byte{
		cat(header(0), uv(0), uv(1<<40)),
		cat(header(0), uv(0), uv(1), uv(1<<40)),
		cat(header(0), uv(1<<40)),
		cat(header(flagMoved), uv(0), uv(1<<40)),
		cat(header2(0), uv(0), uv(1<<40)),
		cat(header2(0), uv(0), uv(1), uv(1<<40)),
		cat(header2(0), uv(0), uv(1), uv(0), uv(1<<40)),
	}
	for _, in := range inputs {
		for name, decode := range decoders {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 100
			for range runs {
				if _, err := decode(in); err == nil {
					t.Fatalf("%s decoded a hostile input", name)
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
				t.Errorf("%s: %d bytes allocated per decode of a %d-byte hostile input", name, per, len(in))
			}
		}
	}
}

func randomRecord(rng *rand.Rand) *store.Record {
	randBytes := func(max int) []byte {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	randTime := func() time.Time {
		if rng.IntN(5) == 0 {
			return time.Time{}
		}
		return time.Unix(0, rng.Int64()-rng.Int64())
	}
	r := &store.Record{
		UserID:   string(randBytes(20)),
		Created:  randTime(),
		LastSeen: randTime(),
		Expires:  randTime(),
		Version:  rng.Uint64() >> rng.UintN(64),
	}
	if rng.IntN(4) == 0 {
		r.Moved = &store.Moved{To: string(randBytes(70)), Sealed: randBytes(80)}
		return r
	}
	if n := rng.IntN(10); n > 0 {
		var values store.ValuesBuilder
		for range n {
			values.Add(string(randBytes(30)), randBytes(200))
		}
		r.Values = values.Values()
	}
	if n := rng.IntN(6); n > 0 && rng.IntN(2) == 0 {
		r.Attrs = make(map[string]string, n)
		for range n {
			r.Attrs[string(randBytes(64))] = string(randBytes(100))
		}
	}
	return r
}

func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		r := randomRecord(rng)
		got, err := Unmarshal(Marshal(r))
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if err := equalRecords(r, got); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(Marshal(r))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		f.Add(Marshal(randomRecord(rng)))
	}
	f.Add([]byte{})
	f.Add([]byte{FormatV1, 0xff})
	f.Add([]byte{FormatVersion, 0xff})
	f.Add(goldenV1)
	f.Add(goldenV2)
	f.Add(cat(header2(0), uv(0), uv(1), uv(1), []byte("k"), uv(0), uv(0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Unmarshal(b)
		meta, merr := UnmarshalMeta(b)
		if (err == nil) != (merr == nil) {
			t.Fatalf("Unmarshal: %v; UnmarshalMeta: %v", err, merr)
		}
		if err != nil {
			if r != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %+v, %v; want nil and ErrCorrupt", r, err)
			}
			if meta != nil || !errors.Is(merr, ErrCorrupt) {
				t.Fatalf("UnmarshalMeta: got %+v, %v; want nil and ErrCorrupt", meta, merr)
			}
			return
		}
		if !meta.Values.Empty() {
			t.Fatalf("UnmarshalMeta returned values %q", meta.Values)
		}
		meta.Values = r.Values
		if err := equalRecords(r, meta); err != nil {
			t.Fatalf("UnmarshalMeta disagrees with Unmarshal: %v", err)
		}
		again, err := Unmarshal(Marshal(r))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if err := equalRecords(r, again); err != nil {
			t.Fatalf("re-encoded record differs: %v", err)
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	r := sampleRecords()["session"]
	b.ReportAllocs()
	for b.Loop() {
		Marshal(r)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	in := Marshal(sampleRecords()["session"])
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Unmarshal(in); err != nil {
			b.Fatal(err)
		}
	}
}
