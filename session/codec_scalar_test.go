package session_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/tether-go/tether/session"
)

// The scalar fast path of JSONCodec decodes every input as encoding/json
// does, into each type it handles: the same value, or an error where
// encoding/json errs, and the target left alone on error... as encoding/json
// leaves it. And it encodes strings, ints and bools to encoding/json's bytes.
func FuzzJSONCodecScalars(f *testing.F) {
	for _, s := range []string{
		`"alice"`, `""`, `"a\"b"`, `"<b>"`, `"é"`, `"\u00e9"`, " \"x\"", `"x" `, `"x`, `x"`, `"`,
		"0", "-0", "00", "01", "-1", "123456789012345678", "1234567890123456789", "-9223372036854775808",
		"9223372036854775807", "9223372036854775808", "1e3", "1.0", "+1", "-", "2147483648",
		"true", "false", "null", "True", " true", "", "\"\x7f\"", "\"\x1f\"", "\"\xff\"",
	} {
		f.Add([]byte(s), s, int64(len(s)))
	}
	c := session.JSONCodec{}
	f.Fuzz(func(t *testing.T, data []byte, str string, n int64) {
		orig := bytes.Clone(data)
		for _, newTarget := range []func() any{
			func() any { return new(string) },
			func() any { v := "kept"; return &v },
			func() any { return new(int) },
			func() any { v := 7; return &v },
			func() any { return new(int64) },
			func() any { return new(bool) },
			func() any { v := true; return &v },
			func() any { return new(int32) }, // not on the fast path
		} {
			got, want := newTarget(), newTarget()
			gotErr := c.Unmarshal(data, got)
			wantErr := json.Unmarshal(data, want)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("Unmarshal(%q) into %T: error %v, encoding/json %v", data, got, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Unmarshal(%q) into %T: %v, encoding/json %v", data, got,
					reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem())
			}
		}
		if !bytes.Equal(data, orig) {
			t.Fatal("Unmarshal modified its input")
		}
		for _, v := range []any{str, n, int(n), n%2 == 0, int(int32(n))} {
			got, gotErr := c.Marshal(v)
			want, wantErr := json.Marshal(v)
			if (gotErr == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("Marshal(%#v) = %q, %v; encoding/json %q, %v", v, got, gotErr, want, wantErr)
			}
		}
	})
}

// The limits of the integer path: what fits is decoded, what does not is
// left to encoding/json's error.
func TestJSONCodecIntegerLimits(t *testing.T) {
	c := session.JSONCodec{}
	for _, n := range []int64{math.MaxInt64, math.MinInt64, math.MaxInt32 + 1, -1, 0} {
		var got int64
		if err := c.Unmarshal([]byte(strconv.FormatInt(n, 10)), &got); err != nil || got != n {
			t.Errorf("%d: got %d, %v", n, got, err)
		}
	}
	var got int64
	if err := c.Unmarshal([]byte("9223372036854775808"), &got); err == nil {
		t.Errorf("an int64 overflow decoded as %d", got)
	}
}

// Reading a plain string allocates the string only: not the decoder's state,
// nor the value Get decodes into.
func TestGetStringAllocatesTheStringOnly(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.Set("name", "alice")
	s.Set("n", 42)
	allocs := testing.AllocsPerRun(100, func() {
		if v, ok := session.Get[string](s, "name"); !ok || v != "alice" {
			t.Fatalf("Get = %q, %v", v, ok)
		}
	})
	if allocs > 1 {
		t.Errorf("Get[string]: %v allocations, want 1", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if v, ok := session.Get[int](s, "n"); !ok || v != 42 {
			t.Fatalf("Get = %d, %v", v, ok)
		}
	})
	if allocs > 0 {
		t.Errorf("Get[int]: %v allocations, want 0", allocs)
	}
}
