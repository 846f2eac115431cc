package recordcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
			Values: map[string][]byte{
				"cart":  []byte(`{"items":[1,2,3]}`),
				"empty": {},
				"nul":   {0, 0xff, 0xfe, 0},
				"ключ":  []byte("значение"),
			},
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
			Values:  map[string][]byte{"k": []byte("v")},
			Version: 1,
		},
		"epoch-and-extremes": {
			Created:  time.Unix(0, 0),
			LastSeen: time.Unix(0, -1),
			Expires:  time.Unix(0, 1<<62),
			Version:  1<<64 - 1,
		},
		"hostile-keys": {
			Values: map[string][]byte{
				"a:b": []byte("1"), "{slot}": []byte("2"), "%s": []byte("3"),
				"' OR 1=1 --": []byte("4"), strings.Repeat("k", store.MaxKeyLen): []byte("5"),
			},
			UserID:  "u:{x} y",
			Version: 3,
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
	case len(a.Values) != len(b.Values):
		return fmt.Errorf("%d values != %d", len(a.Values), len(b.Values))
	}
	for k, av := range a.Values {
		bv, ok := b.Values[k]
		if !ok || !bytes.Equal(av, bv) {
			return fmt.Errorf("value %q: %q != %q (present %v)", k, av, bv, ok)
		}
	}
	return nil
}

func TestRoundTrip(t *testing.T) {
	for name, r := range sampleRecords() {
		t.Run(name, func(t *testing.T) {
			b := Marshal(r)
			if b[0] != FormatVersion {
				t.Fatalf("first byte %d, want format version %d", b[0], FormatVersion)
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
	v := got.Values["cart"]
	_ = append(v, "XXXXXXXXXXXXXXXX"...)
	if err := equalRecords(r, got); err != nil {
		t.Fatalf("append to a decoded value changed the record: %v", err)
	}
}

func TestEmptyValueDistinctFromMissing(t *testing.T) {
	got, err := Unmarshal(Marshal(&store.Record{Values: map[string][]byte{"e": nil}}))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Values["e"]; !ok || v == nil || len(v) != 0 {
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
	return []byte{FormatVersion, flags | flagZeroCreated | flagZeroLastSeen | flagZeroExpires, 1}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func TestUnmarshalRejects(t *testing.T) {
	valid := Marshal(sampleRecords()["session"])
	huge := uv(1<<63 + 12345)
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error
	}{
		{"nil", nil, "empty input"},
		{"unknown version", []byte{2, 0}, "unsupported format version 2"},
		{"version zero", []byte{0}, "unsupported format version 0"},
		{"no flags", []byte{FormatVersion}, "truncated flags"},
		{"unknown flag", []byte{FormatVersion, 0x10}, "unknown flags"},
		{"no version", []byte{FormatVersion, flagZeroCreated | flagZeroLastSeen | flagZeroExpires}, "bad version"},
		{"overlong varint", cat([]byte{FormatVersion, 0}, bytes.Repeat([]byte{0xff}, 11)), "bad version"},
		{"truncated time", []byte{FormatVersion, 0, 1, 0x80}, "bad created time"},
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
		{"trailing byte", cat(valid, []byte{0}), "1 trailing bytes"},
		{"trailing garbage", cat(valid, []byte("garbage")), "7 trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Unmarshal(tt.in)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", r)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestUnmarshalTruncatedEverywhere(t *testing.T) {
	for name, r := range sampleRecords() {
		b := Marshal(r)
		for i := range len(b) {
			if got, err := Unmarshal(b[:i]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s truncated to %d of %d bytes: got %+v, %v; want ErrCorrupt", name, i, len(b), got, err)
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
	}
	for _, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 100
		for range runs {
			if _, err := Unmarshal(in); err == nil {
				t.Fatal("hostile input decoded")
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
			t.Errorf("%d bytes allocated per decode of a %d-byte hostile input", per, len(in))
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
	} else if n := rng.IntN(10); n > 0 {
		r.Values = make(map[string][]byte, n)
		for range n {
			r.Values[string(randBytes(30))] = randBytes(200)
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
	f.Add([]byte{FormatVersion, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Unmarshal(b)
		if err != nil {
			if r != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %+v, %v; want nil and ErrCorrupt", r, err)
			}
			return
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
