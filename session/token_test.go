package session

import (
	"strings"
	"testing"
	"time"
)

func TestNewTokenIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := newToken()
		if !validToken(tok) {
			t.Fatalf("newToken() = %q is not valid", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
}

func TestValidToken(t *testing.T) {
	good := newToken()
	tests := []struct {
		name string
		tok  string
		want bool
	}{
		{"fresh", good, true},
		{"all A", strings.Repeat("A", 43), true},
		{"empty", "", false},
		{"short", good[:42], false},
		{"long", good + "A", false},
		{"padding", good[:42] + "=", false},
		{"std alphabet +", "+" + good[1:], false},
		{"std alphabet /", "/" + good[1:], false},
		{"space", " " + good[1:], false},
		{"non-canonical tail", strings.Repeat("A", 42) + "B", false},
		{"non-ascii", "é" + good[2:], false},
		{"nul", "\x00" + good[1:], false},
	}
	for _, tt := range tests {
		if got := validToken(tt.tok); got != tt.want {
			t.Errorf("%s: validToken(%q) = %v, want %v", tt.name, tt.tok, got, tt.want)
		}
	}
}

func TestTokenIDIsHexSHA256(t *testing.T) {
	id := tokenID(strings.Repeat("A", 43))
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("tokenID = %q, want 64 lowercase hex digits", id)
	}
	if tokenID(newToken()) == tokenID(newToken()) {
		t.Fatal("different tokens, same ID")
	}
}

func TestForwardSeal(t *testing.T) {
	oldTok, newTok := newToken(), newToken()
	until := time.UnixMilli(1767225600123)
	sealed := sealForward(oldTok, newTok, until)
	if strings.Contains(string(sealed), newTok) {
		t.Fatal("sealed tombstone contains the new token in clear")
	}
	got, gotUntil, err := openForward(oldTok, sealed)
	if err != nil || got != newTok || !gotUntil.Equal(until) {
		t.Fatalf("openForward = %q, %v, %v; want %q, %v", got, gotUntil, err, newTok, until)
	}
	if _, _, err := openForward(newToken(), sealed); err == nil {
		t.Error("another token opened the tombstone")
	}
	for i := range sealed {
		bad := append([]byte(nil), sealed...)
		bad[i] ^= 1
		if _, _, err := openForward(oldTok, bad); err == nil {
			t.Fatalf("tampered byte %d accepted", i)
		}
	}
	for _, n := range []int{0, 1, len(sealed) - 1} {
		if _, _, err := openForward(oldTok, sealed[:n]); err == nil {
			t.Errorf("truncated to %d bytes accepted", n)
		}
	}
}

func FuzzOpenForward(f *testing.F) {
	oldTok := strings.Repeat("A", 43)
	f.Add(sealForward(oldTok, newToken(), time.Now()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, sealed []byte) {
		tok, _, err := openForward(oldTok, sealed)
		if err == nil && !validToken(tok) {
			t.Fatalf("opened to invalid token %q", tok)
		}
	})
}
