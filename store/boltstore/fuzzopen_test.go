package boltstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-go/tether/store/boltstore"
)

// FuzzOpen patches bytes into a small session file: Open must either refuse
// it with a *CorruptError or return a store whose reads do not panic. (bbolt
// keeps no checksum on data pages, so a patch inside a stored value can pass
// unnoticed; a patch to the structure must not crash the process.)
func FuzzOpen(f *testing.F) {
	f.Add(uint32(0), []byte{0xff})
	f.Add(uint32(2*pageSize+20), []byte{0, 0, 0, 0})
	f.Add(uint32(3*pageSize), []byte("garbage garbage"))
	f.Add(uint32(pageSize+40), []byte{0xff, 0xff, 0xff})
	_, full := fixture(f, 20)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		b := append([]byte(nil), full...)
		copy(b[int(off)%len(b):], patch)
		path := filepath.Join(dir, "fuzz.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := boltstore.Open(path)
		if err != nil {
			if !errors.Is(err, boltstore.ErrCorrupt) {
				t.Fatalf("Open: %v, want a *CorruptError", err)
			}
			return
		}
		defer s.Close()
		for i := range 20 {
			s.Load(context.Background(), fixtureID(i))
		}
	})
}

// FuzzPrecheck feeds arbitrary files to the check that reads bbolt's meta
// and freelist pages before bbolt does.
func FuzzPrecheck(f *testing.F) {
	_, full := fixture(f, 0)
	f.Add(full[:2*pageSize])
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "pre.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := boltstore.Precheck(path); err != nil && !errors.Is(err, boltstore.ErrCorrupt) {
			t.Fatalf("Precheck: %v, want nil or a *CorruptError", err)
		}
	})
}
