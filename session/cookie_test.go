package session

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func testKeys() [][]byte {
	return [][]byte{[]byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32))}
}

func TestCookieCodecBare(t *testing.T) {
	cc := newCookieCodec("sid", nil, time.Hour)
	tok := newToken()
	v, err := cc.encode(tok)
	if err != nil || v != tok {
		t.Fatalf("encode = %q, %v; want the bare token", v, err)
	}
	if got := cc.decode(v); got != tok {
		t.Fatalf("decode = %q", got)
	}
	for _, bad := range []string{"", "x", tok + "x", strings.Repeat("A", 5000)} {
		if got := cc.decode(bad); got != "" {
			t.Errorf("decode(%.20q) = %q, want none", bad, got)
		}
	}
}

func TestCookieCodecSigned(t *testing.T) {
	keys := testKeys()
	cc := newCookieCodec("sid", keys, time.Hour)
	tok := newToken()
	v, err := cc.encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, tok) {
		t.Fatal("encrypted cookie contains the token")
	}
	if got := cc.decode(v); got != tok {
		t.Fatalf("decode = %q, want %q", got, tok)
	}
	// The MAC binds the cookie name.
	if got := newCookieCodec("other", keys, time.Hour).decode(v); got != "" {
		t.Error("cookie accepted under another name")
	}
	// A bare token is not accepted when keys are configured.
	if got := cc.decode(tok); got != "" {
		t.Error("unsigned token accepted with keys configured")
	}
	// Old keys verify after rotation; unknown keys do not.
	rotated := newCookieCodec("sid", append([][]byte{[]byte(strings.Repeat("n", 32)), nil}, keys...), time.Hour)
	if got := rotated.decode(v); got != tok {
		t.Error("old-key cookie rejected after key rotation")
	}
	stranger := newCookieCodec("sid", [][]byte{[]byte(strings.Repeat("z", 32)), []byte(strings.Repeat("b", 32))}, time.Hour)
	if got := stranger.decode(v); got != "" {
		t.Error("cookie accepted under unknown keys")
	}
}

func TestTokenFromRequestTakesFirstValid(t *testing.T) {
	cc := newCookieCodec("sid", nil, time.Hour)
	tok := newToken()
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "sid", Value: "junk"})
	r.AddCookie(&http.Cookie{Name: "other", Value: newToken()})
	r.AddCookie(&http.Cookie{Name: "sid", Value: tok})
	if got, invalid := cc.allTokens(r); len(got) != 1 || got[0] != tok || invalid != 1 {
		t.Fatalf("tokensFromRequest = %q, %d invalid; want [%q], 1", got, invalid, tok)
	}
	// Several well-formed candidates are kept in order, bounded.
	r = httptest.NewRequest("GET", "/", nil)
	var want []string
	for range maxCandidates + 2 {
		tok := newToken()
		want = append(want, tok)
		r.AddCookie(&http.Cookie{Name: "sid", Value: tok})
	}
	if got, _ := cc.allTokens(r); !slices.Equal(got, want[:maxCandidates]) {
		t.Fatalf("tokensFromRequest = %q, want the first %d of %q", got, maxCandidates, want)
	}
	// A token sent twice is one candidate, wherever the repeat comes; the
	// repeats still count against maxExamined.
	a, b, c := newToken(), newToken(), newToken()
	for _, tc := range []struct {
		header string
		want   []string
	}{
		{"sid=" + a + "; sid=" + a + "; sid=" + b, []string{a, b}},
		{"sid=" + a + "; sid=" + b + "; sid=" + b + "; sid=" + a, []string{a, b}},
		{"sid=" + a + "; sid=" + b + "; sid=" + b + "; sid=" + b + "; sid=" + c, []string{a, b}},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", tc.header)
		if got, _ := cc.allTokens(r); !slices.Equal(got, tc.want) {
			t.Errorf("tokensFromRequest(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func FuzzCookieDecode(f *testing.F) {
	bare := newCookieCodec("sid", nil, time.Hour)
	signed := newCookieCodec("sid", testKeys(), time.Hour)
	v, _ := signed.encode(newToken())
	f.Add(v)
	f.Add(newToken())
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, value string) {
		for _, cc := range []cookieCodec{bare, signed} {
			if tok := cc.decode(value); tok != "" && !validToken(tok) {
				t.Fatalf("decoded an invalid token %q from %q", tok, value)
			}
		}
	})
}

func FuzzTokensFromRequest(f *testing.F) {
	cc := newCookieCodec("sid", nil, time.Hour)
	f.Add("sid=" + newToken())
	f.Add(`a=b; sid="` + newToken() + `"; sid=x`)
	f.Add("sid=;;; =sid; sid")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", header)
		toks, _ := cc.allTokens(r)
		if len(toks) > maxCandidates {
			t.Fatalf("%d candidates", len(toks))
		}
		for i, tok := range toks {
			if slices.Contains(toks[:i], tok) {
				t.Fatalf("token %q twice in %q", tok, toks)
			}
			if !validToken(tok) {
				t.Fatalf("invalid token %q from %q", tok, header)
			}
		}
	})
}

// allTokens is tokensFromRequest's answer as one slice, first token first.
func (cc cookieCodec) allTokens(r *http.Request) (toks []string, invalid int) {
	first, rest, invalid := cc.tokensFromRequest(r)
	if first != "" {
		toks = append([]string{first}, rest...)
	}
	return toks, invalid
}
