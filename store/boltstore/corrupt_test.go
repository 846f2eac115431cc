package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
)

const pageSize = 4096

// fixture writes a file with n sessions of about 300 bytes each and returns
// its path and contents.
func fixture(t testing.TB, n int) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range n {
		_, err := s.Commit(context.Background(), fixtureID(i), store.Change{
			Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			Set: map[string][]byte{"v": bytes.Repeat([]byte{byte(i)}, 300)}, UserID: fmt.Sprint("user", i%7),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func fixtureID(i int) string { return fmt.Sprintf("%064x", i) }

func wantCorrupt(t *testing.T, path, what string) {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.WithLockTimeout(100*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatalf("%s: Open succeeded, want a *CorruptError", what)
	}
	var ce *boltstore.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, boltstore.ErrCorrupt) {
		t.Fatalf("%s: Open error %v (%T), want a *CorruptError", what, err, err)
	}
	t.Logf("%s: %v", what, err)
}

func TestTruncatedFile(t *testing.T) {
	path, full := fixture(t, 200)
	if len(full) < 16*pageSize {
		t.Fatalf("fixture is only %d bytes", len(full))
	}
	for _, size := range []int{0, 100, pageSize, 2 * pageSize, len(full) / 2} {
		if err := os.WriteFile(path, full[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		wantCorrupt(t, path, fmt.Sprintf("truncated to %d of %d bytes", size, len(full)))
	}
	// bbolt grows the file ahead of its pages: cutting that tail loses
	// nothing, cutting into the pages must be refused.
	refused := 0
	for size := len(full) - pageSize; size > len(full)/2; size -= pageSize {
		if err := os.WriteFile(path, full[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		if intactOrCorrupt(t, path, 200, fmt.Sprintf("truncated to %d bytes", size)) {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no truncation into the pages was refused")
	}
}

// intactOrCorrupt opens path, which held n fixture sessions, and reports
// whether Open refused it as corrupt; if it opened, every session must be
// there intact.
func intactOrCorrupt(t *testing.T, path string, n int, what string) bool {
	t.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		if !errors.Is(err, boltstore.ErrCorrupt) {
			t.Fatalf("%s: Open error %v, want a *CorruptError", what, err)
		}
		return true
	}
	defer s.Close()
	for i := range n {
		rec, err := s.Load(context.Background(), fixtureID(i))
		if err != nil || rec == nil || len(rec.Values.Get("v")) != 300 || rec.Values.Get("v")[0] != byte(i) {
			t.Fatalf("%s: Open succeeded but session %d reads %v, %v", what, i, rec, err)
		}
	}
	return false
}

func TestCorruptMetaPages(t *testing.T) {
	path, full := fixture(t, 50)
	b := bytes.Clone(full)
	for i := range 2 * pageSize {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, path, "both meta pages garbled")
}

// Garbling any one data page either leaves a store that still has every
// session intact (the page was free) or is refused at Open: never a panic,
// never a store that quietly lacks sessions.
func TestCorruptEveryPage(t *testing.T) {
	const n = 200
	path, full := fixture(t, n)
	rng := rand.New(rand.NewPCG(1, 2))
	refused, intact := 0, 0
	for page := 2; page < len(full)/pageSize; page++ {
		b := bytes.Clone(full)
		for i := page * pageSize; i < (page+1)*pageSize; i++ {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if intactOrCorrupt(t, path, n, fmt.Sprintf("page %d garbled", page)) {
			refused++
		} else {
			intact++
		}
	}
	t.Logf("%d pages garbled one at a time: %d refused at Open, %d free (store intact)", refused+intact, refused, intact)
	if refused == 0 {
		t.Error("no garbled page was refused")
	}
}

func TestGarbageFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	b := make([]byte, 8*pageSize)
	rand.NewChaCha8([32]byte{3}).Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, path, "random bytes")
}

// A sound bbolt file that some other program wrote is not taken for an
// empty session file.
func TestForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	wantCorrupt(t, path, "another program's bbolt file")
}

// A record that does not decode is reported by Load as corrupt, not as a
// missing session, and Delete can remove it.
func TestCorruptRecordAtLoad(t *testing.T) {
	path, _ := fixture(t, 3)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("records")).Put([]byte(fixtureID(1)), []byte{9, 9, 9})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	wantCorrupt(t, path, "an undecodable record")
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	openAt(t, path)
	start := time.Now()
	s, err := boltstore.Open(path, boltstore.WithLockTimeout(200*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same file succeeded")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second Open: %v, want an error matching ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v to fail", d)
	}
	t.Logf("second Open: %v", err)
}

// Creating the file leaves no temporary file behind, and a closed file
// reopens with its sessions.
func TestReopen(t *testing.T) {
	path, _ := fixture(t, 10)
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
	s := openAt(t, path)
	if n, _ := s.Len(); n != 10 {
		t.Errorf("reopened file holds %d records, want 10", n)
	}
}
