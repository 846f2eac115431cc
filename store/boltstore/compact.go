package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds the bytes Compact copies per transaction.
const compactTxSize = 16 << 20

// Compact writes a compacted copy of the session file at src to a new file
// at dst, which must not exist. The file of a running store never shrinks
// (freed pages are reused, not returned), so after a peak of sessions that
// will not come back, stop the process, Compact, move dst over src, and
// start again. src is checked as [Open] checks it and must not be open
// elsewhere: Compact takes its lock, so it fails with [ErrLocked] while a
// store has it.
func Compact(dst, src string, opts ...Option) (err error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("boltstore: compact: %w", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("boltstore: compact: %s already exists", dst)
	}
	sdb, err := openChecked(src, cfg)
	if err != nil {
		return err
	}
	defer sdb.Close()
	ddb, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: cfg.lockTimeout})
	if err != nil {
		return fmt.Errorf("boltstore: compact: %w", err)
	}
	err = bolt.Compact(ddb, sdb, compactTxSize)
	if cerr := ddb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("boltstore: compact: %w", err)
	}
	return nil
}
