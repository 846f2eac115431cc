package boltstore_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
)

// testdata/v1.db.gz is a session file written by the previous release
// (before attributes, records in format 1), at previousT0 by its clock:
//
//   - "aaa…" (64 a): user alice, values cart="3 items" and empty="", expires
//     previousT0+24h;
//   - "bbb…": was alice's, moved to "ddd…" with sealed "sealed", the tombstone
//     expires previousT0+1h;
//   - "ccc…": no user, value anon="1", expires previousT0+24h.
var previousT0 = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)

func repeatID(c byte) string { return string(bytes.Repeat([]byte{c}, 64)) }

// previousFile copies the previous release's file into t's directory.
func previousFile(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/v1.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sessions.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A file written by the previous release opens, its sessions load with no
// attributes, they take attributes, and the attributes survive a reopen.
func TestPreviousReleaseFile(t *testing.T) {
	path := previousFile(t)
	now := previousT0.Add(time.Minute)
	clock := func() time.Time { return now }
	s, err := boltstore.Open(path, boltstore.WithClock(clock))
	if err != nil {
		t.Fatalf("Open of the previous release's file: %v", err)
	}
	ctx := t.Context()
	a, b, c := repeatID('a'), repeatID('b'), repeatID('c')

	rec, err := s.Load(ctx, a)
	if err != nil || rec == nil {
		t.Fatalf("Load(a) = %v, %v", rec, err)
	}
	if rec.UserID != "alice" || rec.Version != 1 || !rec.Created.Equal(previousT0) || !rec.Expires.Equal(previousT0.Add(24*time.Hour)) ||
		string(rec.Values.Get("cart")) != "3 items" || rec.Values.Get("empty") == nil || rec.Values.Len() != 2 || rec.Attrs != nil {
		t.Errorf("Load(a) = %+v", rec)
	}
	if rec, err := s.Load(ctx, b); err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != repeatID('d') ||
		string(rec.Moved.Sealed) != "sealed" || rec.Attrs != nil {
		t.Errorf("Load(b) = %+v, %v; want the tombstone", rec, err)
	}
	if rec, err := s.Load(ctx, c); err != nil || rec == nil || string(rec.Values.Get("anon")) != "1" || rec.UserID != "" {
		t.Errorf("Load(c) = %+v, %v", rec, err)
	}
	infos, err := s.UserSessions(ctx, "alice")
	if err != nil || len(infos) != 1 || infos[0].ID != a || infos[0].Attrs != nil {
		t.Fatalf("UserSessions(alice) = %+v, %v; want a alone, no attributes", infos, err)
	}

	attrs := map[string]string{"device": "Alice's laptop", "$where": "x", "a.b": ""}
	if _, err := s.Commit(ctx, a, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, c, store.Change{Mode: store.Update, Set: map[string][]byte{"more": []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, boltstore.WithClock(clock))
	rec, err = s.Load(ctx, a)
	if err != nil || rec == nil || !maps.Equal(rec.Attrs, attrs) || string(rec.Values.Get("cart")) != "3 items" || rec.Version != 2 {
		t.Fatalf("Load(a) after reopening = %+v, %v; want the attributes set before", rec, err)
	}
	infos, err = s.UserSessions(ctx, "alice")
	if err != nil || len(infos) != 1 || !maps.Equal(infos[0].Attrs, attrs) {
		t.Fatalf("UserSessions(alice) after reopening = %+v, %v", infos, err)
	}
	if rec, err := s.Load(ctx, c); err != nil || rec == nil || rec.Values.Len() != 2 || rec.Attrs != nil {
		t.Errorf("Load(c) after reopening = %+v, %v", rec, err)
	}
}

// UserSessions decodes the records' metadata and attributes, not their
// values: listing a session of half a megabyte allocates a few kilobytes.
func TestUserSessionsSkipsValues(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	now := time.Now()
	attrs := map[string]string{"device": "phone"}
	for _, c := range []byte{'a', 'b'} {
		_, err := s.Commit(ctx, repeatID(c), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			SetUserID: true, UserID: "carol", SetAttrs: true, Attrs: attrs,
			Set: map[string][]byte{"big": bytes.Repeat([]byte{c}, 512<<10)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 10
	for range runs {
		infos, err := s.UserSessions(ctx, "carol")
		if err != nil || len(infos) != 2 || !maps.Equal(infos[0].Attrs, attrs) {
			t.Fatalf("UserSessions = %+v, %v", infos, err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
		t.Errorf("UserSessions of two 512 KiB sessions allocated %d bytes a call", per)
	} else {
		t.Logf("UserSessions of two 512 KiB sessions: %d bytes allocated a call", per)
	}
}
