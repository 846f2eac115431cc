package boltstore

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A write that fails inside a shared transaction gets its error, leaves no
// trace, and the others of its group still commit.
func TestGroupMemberFails(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bucket := func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketMeta) }
	put := func(k string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error { return bucket(tx).Put([]byte(k), []byte("v")) }
	}
	boom := errors.New("boom")

	// Hold the writer lock so that the writes below queue into one group.
	release, held := make(chan struct{}), make(chan struct{})
	go s.db.Update(func(*bolt.Tx) error { close(held); <-release; return nil })
	<-held
	results := make(chan error, 4)
	go func() { results <- s.gc.do(put("first")) }() // the leader, alone in its transaction
	waitQueued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.gc.mu.Lock()
			q, running := len(s.gc.queue), s.gc.running
			s.gc.mu.Unlock()
			if q == n && running {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue holds %d writes, want %d", q, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitQueued(0) // the leader took it
	var failed = make(chan error, 1)
	go func() { results <- s.gc.do(put("a")) }()
	waitQueued(1)
	go func() {
		failed <- s.gc.do(func(tx *bolt.Tx) error {
			if err := put("trace")(tx); err != nil {
				return err
			}
			return boom
		})
	}()
	waitQueued(2)
	go func() { results <- s.gc.do(func(tx *bolt.Tx) error { panic("bad write") }) }()
	waitQueued(3)
	go func() { results <- s.gc.do(put("b")) }()
	waitQueued(4)
	close(release)

	if err := <-failed; !errors.Is(err, boom) {
		t.Errorf("failing write: %v, want boom", err)
	}
	var panicked int
	for range 4 {
		if err := <-results; err != nil {
			panicked++
		}
	}
	if panicked != 1 {
		t.Errorf("%d writes failed, want only the panicking one", panicked)
	}
	s.db.View(func(tx *bolt.Tx) error {
		for _, k := range []string{"first", "a", "b"} {
			if bucket(tx).Get([]byte(k)) == nil {
				t.Errorf("write %q of the group was lost", k)
			}
		}
		if bucket(tx).Get([]byte("trace")) != nil {
			t.Error("the failed write left its trace")
		}
		return nil
	})
}
