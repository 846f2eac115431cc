package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-go/tether/store/boltstore"
)

func TestCompact(t *testing.T) {
	path, full := fixture(t, 300)
	s := openAt(t, path)
	for i := 10; i < 300; i++ {
		if err := s.Delete(bg, fixtureID(i)); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(filepath.Dir(path), "compact.db")
	if err := boltstore.Compact(dst, path); !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("Compact of an open file: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := boltstore.Compact(dst, path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sessions of 300 left: file %d bytes, compacted %d", 10, len(full), info.Size())
	if info.Size() >= int64(len(full)) {
		t.Errorf("compacted file is %d bytes, the original %d", info.Size(), len(full))
	}
	c := openAt(t, dst)
	if n, _ := c.Len(); n != 10 {
		t.Errorf("compacted file holds %d records, want 10", n)
	}
	for i := range 10 {
		if rec, err := c.Load(bg, fixtureID(i)); rec == nil || err != nil {
			t.Errorf("session %d missing after Compact: %v", i, err)
		}
	}
	if err := boltstore.Compact(dst, path); err == nil {
		t.Error("Compact over an existing file succeeded")
	}
}
