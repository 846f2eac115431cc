package session_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tether-go/tether/session"
)

// login starts a session for userID with attrs, as a login handler does, and
// returns its cookie.
func login(t *testing.T, m *session.Manager, userID string, attrs map[string]string) *http.Cookie {
	t.Helper()
	s := begin(t, m, nil)
	s.Rotate()
	s.SetUserID(userID)
	s.SetAttrs(attrs)
	ck, err := commit(t, s)
	if err != nil || ck == nil {
		t.Fatalf("login: cookie %v, error %v", ck, err)
	}
	return ck
}

func userAttrs(t *testing.T, m *session.Manager, userID string) []map[string]string {
	t.Helper()
	infos, err := m.UserSessions(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, in := range infos {
		out = append(out, in.Attrs)
	}
	return out
}

func TestAttrsListedWithoutValues(t *testing.T) {
	m := newManager(t)
	laptop := map[string]string{"device": "Alice's laptop", "ua": "Mozilla/5.0", "ip": "2001:db8::1"}
	ck := login(t, m, "alice", laptop)

	got := userAttrs(t, m, "alice")
	if len(got) != 1 || !maps.Equal(got[0], laptop) {
		t.Fatalf("UserSessions attrs = %v, want [%v]", got, laptop)
	}
	s := begin(t, m, ck)
	if a := s.Attrs(); !maps.Equal(a, laptop) {
		t.Errorf("Attrs() on the next request = %v, want %v", a, laptop)
	}
	if in, ok := s.Info(); !ok || !maps.Equal(in.Attrs, laptop) {
		t.Errorf("Info() = %+v, %v; want attrs %v", in, ok, laptop)
	}
	// The caller owns what it gets back.
	s.Attrs()["device"] = "changed"
	got[0]["device"] = "changed"
	if a := s.Attrs(); a["device"] != "Alice's laptop" {
		t.Errorf("changing a returned map changed the session: %v", a)
	}
	if got := userAttrs(t, m, "alice"); got[0]["device"] != "Alice's laptop" {
		t.Errorf("changing a listed map changed the store: %v", got)
	}
}

func TestAttrsKeptByWritesAndRotation(t *testing.T) {
	m := newManager(t)
	laptop := map[string]string{"device": "laptop"}
	ck := login(t, m, "alice", laptop)

	s := begin(t, m, ck)
	s.Set("cart", 3)
	if _, err := commit(t, s); err != nil {
		t.Fatal(err)
	}
	s = begin(t, m, ck)
	s.Rotate() // a privilege change, without SetAttrs
	ck2, err := commit(t, s)
	if err != nil || ck2 == nil || ck2.Value == ck.Value {
		t.Fatalf("rotation: cookie %v, error %v", ck2, err)
	}
	if got := userAttrs(t, m, "alice"); len(got) != 1 || !maps.Equal(got[0], laptop) {
		t.Fatalf("after a write and a rotation: attrs %v, want [%v]", got, laptop)
	}

	// Renaming the device replaces the whole set; nil removes it.
	s = begin(t, m, ck2)
	s.SetAttrs(map[string]string{"label": "work"})
	if _, err := commit(t, s); err != nil {
		t.Fatal(err)
	}
	if got := userAttrs(t, m, "alice"); !maps.Equal(got[0], map[string]string{"label": "work"}) {
		t.Errorf("after SetAttrs: %v", got)
	}
	s = begin(t, m, ck2)
	s.SetAttrs(nil)
	if _, err := commit(t, s); err != nil {
		t.Fatal(err)
	}
	if got := userAttrs(t, m, "alice"); len(got[0]) != 0 {
		t.Errorf("after SetAttrs(nil): %v", got)
	}
	if v, _ := session.Get[int](begin(t, m, ck2), "cart"); v != 3 {
		t.Errorf("cart = %d after attribute changes, want 3", v)
	}
}

func TestAttrsSetDuringRotationReplaceOld(t *testing.T) {
	m := newManager(t)
	ck := login(t, m, "alice", map[string]string{"device": "old"})
	s := begin(t, m, ck)
	s.Rotate()
	s.SetAttrs(map[string]string{"device": "new"})
	if _, err := commit(t, s); err != nil {
		t.Fatal(err)
	}
	if got := userAttrs(t, m, "alice"); len(got) != 1 || got[0]["device"] != "new" {
		t.Errorf("attrs = %v, want device=new", got)
	}
}

func TestAttrsAloneStartASession(t *testing.T) {
	m := newManager(t)
	s := begin(t, m, nil)
	s.SetAttrs(map[string]string{"ua": "curl/8"})
	ck, err := commit(t, s)
	if err != nil || ck == nil {
		t.Fatalf("cookie %v, error %v; want a new session", ck, err)
	}
	if a := begin(t, m, ck).Attrs(); a["ua"] != "curl/8" {
		t.Errorf("Attrs() = %v", a)
	}

	s = begin(t, m, nil)
	s.SetAttrs(map[string]string{})
	if ck, err := commit(t, s); err != nil || ck != nil {
		t.Errorf("an empty set on a new session: cookie %v, error %v; want neither", ck, err)
	}
}

func TestInvalidAttrsFailTheCommit(t *testing.T) {
	m := newManager(t)
	nine := map[string]string{}
	for i := range session.MaxAttrs + 1 {
		nine[string(rune('a'+i))] = "v"
	}
	for _, tc := range []struct {
		attrs map[string]string
		key   string
	}{
		{map[string]string{"": "x"}, ""},
		{map[string]string{"user agent": "x"}, "user agent"},
		{map[string]string{"$where": "x"}, "$where"},
		{map[string]string{"ключ": "x"}, "ключ"},
		{map[string]string{strings.Repeat("k", session.MaxAttrKeyLen+1): "x"}, strings.Repeat("k", session.MaxAttrKeyLen+1)},
		{nine, ""},
	} {
		s := begin(t, m, nil)
		s.Set("kept", 1)
		s.SetAttrs(tc.attrs)
		ck, err := commit(t, s)
		var ae *session.AttrError
		if !errors.Is(err, session.ErrInvalidAttr) || !errors.As(err, &ae) || ae.Key != tc.key || ae.Reason == "" {
			t.Errorf("SetAttrs(%q): commit error %v, want an *AttrError for key %q with a reason", tc.attrs, err, tc.key)
		}
		if ck != nil {
			t.Errorf("SetAttrs(%q): a refused set still wrote a cookie", tc.attrs)
		}
		if !errors.Is(s.Err(), session.ErrInvalidAttr) {
			t.Errorf("SetAttrs(%q): Err() = %v", tc.attrs, s.Err())
		}
	}
	// The longest valid set is accepted.
	full := map[string]string{}
	for i := range session.MaxAttrs {
		full[strings.Repeat(string(rune('a'+i)), session.MaxAttrKeyLen)] = strings.Repeat("v", session.MaxAttrValueLen)
	}
	s := begin(t, m, nil)
	s.SetAttrs(full)
	if _, err := commit(t, s); err != nil {
		t.Errorf("the largest valid set: %v", err)
	}
}

// A value comes from the client (a User-Agent header): it is cleaned, never
// refused, so a hostile header cannot fail a login.
func TestHostileAttrValuesAreCleaned(t *testing.T) {
	m := newManager(t)
	hostile := "Mozilla\x00/5.0\r\nSet-Cookie: x=1\t\xff\xfe" + strings.Repeat("é", 300)
	ck := login(t, m, "alice", map[string]string{"ua": hostile})
	got := userAttrs(t, m, "alice")[0]["ua"]
	if !utf8.ValidString(got) || len(got) > session.MaxAttrValueLen || strings.IndexFunc(got, unicode.IsControl) >= 0 {
		t.Errorf("stored ua %q: want valid UTF-8 without control characters, at most %d bytes", got, session.MaxAttrValueLen)
	}
	if !strings.HasPrefix(got, "Mozilla /5.0  Set-Cookie: x=1 \uFFFD") {
		t.Errorf("stored ua %q: cleaning changed more than the bad bytes", got)
	}
	if a := begin(t, m, ck).Attrs(); a["ua"] != got {
		t.Errorf("Attrs() = %q, listing says %q", a["ua"], got)
	}
}

// Attributes and values written by concurrent requests of one session are
// disjoint changes: neither loses the other.
func TestAttrsAndValuesFromConcurrentRequests(t *testing.T) {
	m := newManager(t)
	ck := login(t, m, "alice", map[string]string{"device": "laptop"})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := begin(t, m, ck)
			if i%4 == 0 {
				s.SetAttrs(map[string]string{"device": "laptop", "seen": "yes"})
			} else {
				s.Set("k"+string(rune('a'+i)), i)
			}
			if _, err := commit(t, s); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s := begin(t, m, ck)
	for i := range 20 {
		if i%4 == 0 {
			continue
		}
		if v, ok := session.Get[int](s, "k"+string(rune('a'+i))); !ok || v != i {
			t.Errorf("value %d lost next to attribute writes", i)
		}
	}
	if a := s.Attrs(); a["seen"] != "yes" {
		t.Errorf("attrs = %v, lost next to value writes", a)
	}
}

// A destroyed session's cookie cannot bring it back into the user's devices
// by writing attributes.
func TestAttrsAfterDestroyAreDropped(t *testing.T) {
	m := newManager(t)
	ck := login(t, m, "alice", map[string]string{"device": "laptop"})
	s := begin(t, m, ck)
	s.Destroy()
	if _, err := commit(t, s); err != nil {
		t.Fatal(err)
	}
	if got := userAttrs(t, m, "alice"); len(got) != 0 {
		t.Errorf("after Destroy: %v sessions listed", len(got))
	}
	late := begin(t, m, ck)
	late.SetAttrs(map[string]string{"device": "resurrected"})
	if _, err := commit(t, late); err != nil {
		t.Fatal(err)
	}
	if got := userAttrs(t, m, "alice"); len(got) != 0 {
		t.Errorf("an attribute write through a destroyed session's cookie re-listed it: %v", got)
	}
}
