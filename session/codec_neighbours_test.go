package session_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/tether-go/tether/session"
)

// JSONCodec.Unmarshal into a nil *string, *int, *int64 or *bool returns
// encoding/json's error, as for any other type; the scalar path used to
// write through the pointer and panic. A caller (a store wrapper, an app
// decoding raw values with the Manager's codec) may pass a typed nil.
func TestJSONCodecNilTypedPointer(t *testing.T) {
	c := session.JSONCodec{}
	for _, tc := range []struct {
		data string
		v    any
	}{
		{`"alice"`, (*string)(nil)},
		{`42`, (*int)(nil)},
		{`42`, (*int64)(nil)},
		{`true`, (*bool)(nil)},
	} {
		wantErr := json.Unmarshal([]byte(tc.data), tc.v)
		gotErr := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return c.Unmarshal([]byte(tc.data), tc.v)
		}()
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("Unmarshal(%s, %T(nil)) = %v; encoding/json: %v", tc.data, tc.v, gotErr, wantErr)
		}
	}
}

type namedString string
type namedInt int
type aliasString = string

type embeddingCodec struct{ session.JSONCodec }

// Types next to the fast path's (named, aliased, pointers, interfaces) and
// a codec that embeds JSONCodec read back through Get as encoding/json
// decodes them.
func TestGetScalarNeighbours(t *testing.T) {
	for _, opts := range [][]session.Option{nil, {session.WithCodec(embeddingCodec{})}, {session.WithCodec(&session.JSONCodec{})}} {
		m := newManager(t, append(opts, session.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))...)
		s := begin(t, m, nil)
		s.Set("name", namedString("bob"))
		s.Set("n", namedInt(-7))
		s.Set("str", "x<y")
		s.Set("alias", aliasString("ok"))
		s.Set("big", int64(1)<<62)
		check := func(name string, got any, ok bool, want any) {
			t.Helper()
			if !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("%T %s: got %#v, %v; want %#v", m, name, got, ok, want)
			}
		}
		v1, ok := session.Get[namedString](s, "name")
		check("named string", v1, ok, namedString("bob"))
		v2, ok := session.Get[namedInt](s, "n")
		check("named int", v2, ok, namedInt(-7))
		v3, ok := session.Get[*string](s, "str")
		check("*string", *v3, ok, "x<y")
		v4, ok := session.Get[any](s, "n")
		check("any", v4, ok, float64(-7))
		v5, ok := session.Get[aliasString](s, "alias")
		check("alias", v5, ok, "ok")
		v6, ok := session.Get[int64](s, "big")
		check("int64", v6, ok, int64(1)<<62)
		v7, ok := session.Get[int32](s, "big")
		check("int32 overflow", v7, !ok, int32(0))
		v8, ok := session.Get[string](s, "n")
		check("string of a number", v8, !ok, "")
	}
}
