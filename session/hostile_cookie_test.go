package session

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// countingCodec counts the signature checks a cookie codec makes.
type countingCodec struct {
	securecookie.Codec
	decodes *atomic.Int64
}

func (c countingCodec) Decode(name, value string, dst any) error {
	c.decodes.Add(1)
	return c.Codec.Decode(name, value, dst)
}

// threePairs returns three key pairs, as a site mid-way through two key
// rotations has.
func threePairs() [][]byte {
	var keys [][]byte
	for _, c := range "xyz" {
		keys = append(keys, []byte(strings.Repeat(string(c), 32)), []byte(strings.Repeat(string(c), 16)))
	}
	return keys
}

// hostileHeader is about a megabyte of cookies of the session cookie's name,
// each well-formed enough to cost a full signature check (signed and
// encrypted by a key the server does not have).
func hostileHeader(tb testing.TB, name string) string {
	foreign := newCookieCodec(name, [][]byte{[]byte(strings.Repeat("f", 32)), []byte(strings.Repeat("f", 16))}, time.Hour)
	v, err := foreign.encode(newToken())
	if err != nil {
		tb.Fatal(err)
	}
	one := name + "=" + v
	n := (1 << 20) / (len(one) + 2)
	return strings.Repeat(one+"; ", n-1) + one
}

// A megabyte of same-name cookies must not cost thousands of signature checks.
func TestHostileCookieHeaderBoundedSignatureChecks(t *testing.T) {
	cc := newCookieCodec("session", threePairs(), time.Hour)
	var decodes atomic.Int64
	for i, c := range cc.codecs {
		cc.codecs[i] = countingCodec{Codec: c, decodes: &decodes}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", hostileHeader(t, "session"))
	toks, invalid := cc.allTokens(r)
	if len(toks) != 0 || invalid == 0 {
		t.Fatalf("tokens %v, invalid %d", toks, invalid)
	}
	if max := int64(maxExamined * len(cc.codecs)); decodes.Load() > max {
		t.Errorf("%d signature checks for one request, want at most %d", decodes.Load(), max)
	}

	// A good cookie among a few bad ones is still found.
	good, err := cc.encode(newToken())
	if err != nil {
		t.Fatal(err)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "session=bad; session=worse; other=x; session="+good)
	if toks, _ := cc.allTokens(r); len(toks) != 1 {
		t.Errorf("good cookie behind bad ones not found: %v", toks)
	}
}

// BenchmarkHostileCookieHeader: the CPU one request with a megabyte of
// same-name cookies costs, without keys and with three key pairs.
func BenchmarkHostileCookieHeader(b *testing.B) {
	for _, tt := range []struct {
		name string
		keys [][]byte
	}{{"nokeys", nil}, {"keys3", threePairs()}} {
		b.Run(tt.name, func(b *testing.B) {
			cc := newCookieCodec("session", tt.keys, time.Hour)
			r := &http.Request{Header: http.Header{"Cookie": {hostileHeader(b, "session")}}}
			b.ReportAllocs()
			for b.Loop() {
				cc.tokensFromRequest(r)
			}
		})
	}
}
