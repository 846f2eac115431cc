package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// maxCheckErrors bounds the consistency errors Open collects from bbolt's
// check before it reports them.
const maxCheckErrors = 5

// ensureFile makes sure path holds a session file, creating an empty one if
// nothing is there. The new file is built under a temporary name and linked
// into place complete, so a crash never leaves a half-made file at path, and
// an empty file at path is always damage (a truncation), never a file still
// being created. Link, unlike rename, fails if path appeared meanwhile: two
// processes racing to create it end up sharing one file, and its lock.
func ensureFile(path string) error {
	info, err := os.Stat(path)
	switch {
	case err == nil && info.Size() == 0:
		return &CorruptError{Path: path, Reason: "the file is empty (truncated?)"}
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("boltstore: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("boltstore: create %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o600, nil)
	if err != nil {
		return fmt.Errorf("boltstore: create %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketExpiry, bucketUsers} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keyFormat, formatName)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("boltstore: create %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("boltstore: create %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("boltstore: sync %s: %w", dir, err)
	}
	return nil
}

// openChecked opens the bbolt file at path and checks it. bbolt trusts the
// file: a damaged page can make it index out of range (a panic) or read past
// the end of a truncated file's memory map (a fault, which Go turns into a
// panic only where asked). Both are turned into a *CorruptError here.
//
// A panic inside bbolt's Open leaves no DB to close, but the file it opened
// holds the lock: the file is captured as bbolt opens it and closed here, so
// that the next Open reports the damage again rather than a held lock. (The
// memory map such an Open made stays mapped until the process exits.)
func openChecked(path string, cfg config) (db *bolt.DB, err error) {
	if err := precheck(path); err != nil {
		return nil, err
	}
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			} else if file != nil {
				file.Close()
			}
			db, err = nil, &CorruptError{Path: path, Reason: fmt.Sprintf("reading it failed: %v", r)}
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: cfg.lockTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		return nil, classifyOpenError(path, cfg, err)
	}
	if err := checkFile(db, path); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// classifyOpenError tells a held lock and a system error (permissions, a
// missing directory) from a damaged file.
func classifyOpenError(path string, cfg config, err error) error {
	var pe *fs.PathError
	var errno interface{ Errno() uintptr }
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("boltstore: open %s: waited %v: %w", path, cfg.lockTimeout, ErrLocked)
	case errors.As(err, &pe), errors.As(err, &errno):
		return fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return &CorruptError{Path: path, Reason: "bbolt cannot open it", Err: err}
}

// checkFile checks, in order, and stops at the first failure:
//
//  1. the file is as long as its meta page says (else it was truncated, and
//     reading its last pages would fault);
//  2. it is a session file of a format this version reads;
//  3. every record decodes, and every expiry and user index key parses
//     (this reads every page of the three buckets);
//  4. bbolt's own check (Tx.Check): every page is reachable exactly once or
//     free, and keys are in order on every page.
//
// The cost is one read of the file.
func checkFile(db *bolt.DB, path string) error {
	return db.View(func(tx *bolt.Tx) error {
		info, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("boltstore: %w", err)
		}
		if need := tx.Size(); info.Size() < need {
			return &CorruptError{Path: path, Reason: fmt.Sprintf("truncated: the file has %d bytes, its pages need %d", info.Size(), need)}
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return &CorruptError{Path: path, Reason: "not a session file (no meta bucket)"}
		}
		if f := meta.Get(keyFormat); !bytes.Equal(f, formatName) {
			return &CorruptError{Path: path, Reason: fmt.Sprintf("format %q, want %q", f, formatName)}
		}
		if err := checkBuckets(tx); err != nil {
			return &CorruptError{Path: path, Reason: "bad contents", Err: err}
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < maxCheckErrors {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return &CorruptError{Path: path, Reason: "bbolt consistency check failed", Err: errors.Join(errs...)}
		}
		return nil
	})
}

// checkBuckets decodes every record and parses every index key.
func checkBuckets(tx *bolt.Tx) error {
	b := map[string]*bolt.Bucket{}
	for _, name := range [][]byte{bucketRecords, bucketExpiry, bucketUsers} {
		if b[string(name)] = tx.Bucket(name); b[string(name)] == nil {
			return fmt.Errorf("bucket %q missing", name)
		}
	}
	records, expiries := 0, 0
	err := b[string(bucketRecords)].ForEach(func(k, v []byte) error {
		records++
		if v == nil {
			return fmt.Errorf("record %.16q is a bucket", k)
		}
		if _, err := decodeRecord(v); err != nil {
			return fmt.Errorf("record %.16q: %w", k, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = b[string(bucketExpiry)].ForEach(func(k, _ []byte) error {
		expiries++
		_, _, err := parseExpiryKey(k)
		return err
	})
	if err != nil {
		return fmt.Errorf("expiry index: %w", err)
	}
	// More entries than records is harmless (a record deleted while it did
	// not decode leaves its entry for the reaper); fewer means a record the
	// reaper would never remove.
	if expiries < records {
		return fmt.Errorf("%d records but only %d expiry index entries", records, expiries)
	}
	return b[string(bucketUsers)].ForEach(func(k, _ []byte) error {
		if _, _, err := parseUserKey(k); err != nil {
			return fmt.Errorf("user index: %w", err)
		}
		return nil
	})
}
