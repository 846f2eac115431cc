package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// A store whose compare-and-swap loop runs out of retries may return
// store.ErrConflict. The concurrency subtests retry such writes, up to
// conflictRetries times, and still require that no write is lost.
const (
	writers         = 64
	conflictRetries = 100
)

var concurrencyTests = []test{
	{"DistinctKeys", testConcurrentDistinctKeys},
	{"SameKey", testConcurrentSameKey},
	{"TouchAndCommit", testConcurrentTouchAndCommit},
	{"Create", testConcurrentCreate},
	{"CommitAndDelete", testConcurrentCommitAndDelete},
	{"CommitAndMove", testConcurrentCommitAndMove},
}

// retry runs write until it returns anything but ErrConflict, up to
// conflictRetries times, with a short random backoff.
func retry(write func() error) error {
	var err error
	for range conflictRetries {
		if err = write(); !errors.Is(err, store.ErrConflict) {
			return err
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	}
	return err
}

func commitRetry(ctx context.Context, s store.Store, id string, c store.Change) (store.Result, error) {
	var res store.Result
	err := retry(func() (err error) {
		res, err = s.Commit(ctx, id, c)
		return err
	})
	return res, err
}

// parallel runs fn(i) for i in [0, n) on n goroutines released at once, and
// reports the first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// Concurrent commits of different keys all survive: a commit applies its
// delta atomically, never a stale copy of the whole record.
func testConcurrentDistinctKeys(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("initial", "x"))
	versions := make([]uint64, writers)
	parallel(t, writers, func(i int) error {
		c := e.change(store.Update)
		c.Set = vals(fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i))
		res, err := commitRetry(t.Context(), s, id, c)
		versions[i] = res.Version
		return err
	})
	rec := mustLoad(t, s, id)
	want := vals("initial", "x")
	for i := range writers {
		want[fmt.Sprintf("key-%d", i)] = []byte(fmt.Sprintf("value-%d", i))
	}
	wantValues(t, rec, want)
	// Atomic writes are ordered: each has a version of its own, and the last
	// one's is the record's.
	slices.Sort(versions)
	if c := slices.Compact(slices.Clone(versions)); len(c) != writers {
		t.Errorf("%d concurrent commits returned %d distinct versions", writers, len(c))
	}
	if max := versions[writers-1]; rec.Version != max || versions[0] <= 1 {
		t.Errorf("record version %d, commits returned %d..%d; want the highest, all above 1", rec.Version, versions[0], max)
	}
}

// Concurrent commits of one key leave one of the written values, intact.
func testConcurrentSameKey(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("k", "initial"))
	written := map[string]bool{}
	for i := range writers {
		written[fmt.Sprintf("value-%d-%s", i, newID())] = true
	}
	values := slices.Collect(func(yield func(string) bool) {
		for v := range written {
			if !yield(v) {
				return
			}
		}
	})
	parallel(t, writers, func(i int) error {
		c := e.change(store.Update)
		c.Set = vals("k", values[i])
		_, err := commitRetry(t.Context(), s, id, c)
		return err
	})
	rec := mustLoad(t, s, id)
	if got := string(rec.Values.Get("k")); !written[got] {
		t.Errorf("value after concurrent commits = %q, not one of the values written", got)
	}
	if rec.Values.Len() != 1 {
		t.Errorf("%d values, want 1", rec.Values.Len())
	}
}

// Touch changes times only: racing commits, it must not write back values.
// Each goroutine writes several times so that touches and commits interleave.
func testConcurrentTouchAndCommit(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", nil)
	const rounds = 10
	parallel(t, writers, func(i int) error {
		for j := range rounds {
			if i%2 == 0 {
				now := e.now()
				if err := retry(func() error { return s.Touch(t.Context(), id, now, now.Add(time.Hour)) }); err != nil {
					return err
				}
				continue
			}
			c := e.change(store.Update)
			c.Set = vals(fmt.Sprintf("key-%d-%d", i, j), "v")
			if _, err := commitRetry(t.Context(), s, id, c); err != nil {
				return err
			}
		}
		return nil
	})
	want := map[string][]byte{}
	for i := 1; i < writers; i += 2 {
		for j := range rounds {
			want[fmt.Sprintf("key-%d-%d", i, j)] = []byte("v")
		}
	}
	wantValues(t, mustLoad(t, s, id), want)
}

// Of concurrent creates of one ID exactly one wins.
func testConcurrentCreate(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	var mu sync.Mutex
	winners := []int{}
	parallel(t, writers/4, func(i int) error {
		c := e.change(store.Create)
		c.Set = vals("winner", fmt.Sprint(i))
		_, err := commitRetry(t.Context(), s, id, c)
		switch {
		case err == nil:
			mu.Lock()
			winners = append(winners, i)
			mu.Unlock()
			return nil
		case errors.Is(err, store.ErrExists):
			return nil
		}
		return fmt.Errorf("concurrent Create: %w", err)
	})
	if len(winners) != 1 {
		t.Fatalf("%d concurrent creates succeeded, want exactly 1", len(winners))
	}
	rec := mustLoad(t, s, id)
	wantValues(t, rec, vals("winner", fmt.Sprint(winners[0])))
	if rec.Version != 1 {
		t.Errorf("Version = %d, want 1", rec.Version)
	}
}

// No resurrection under a race: once Delete has returned, commits that were in
// flight leave nothing behind.
func testConcurrentCommitAndDelete(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1"))
	parallel(t, writers, func(i int) error {
		if i == writers/2 {
			return s.Delete(t.Context(), id)
		}
		for j := range 5 {
			c := e.change(store.Update)
			c.Set = vals(fmt.Sprintf("key-%d-%d", i, j), "v")
			_, err := commitRetry(t.Context(), s, id, c)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("commit racing Delete: %w", err)
			}
		}
		return nil
	})
	wantMissing(t, s, id, "commits raced a Delete")
}

// A Move racing commits leaves a clean tombstone; commits after it are
// refused with a *MovedError.
func testConcurrentCommitAndMove(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1"))
	m := store.Moved{To: newID(), Sealed: sealed()}
	parallel(t, writers, func(i int) error {
		if i == writers/2 {
			// Rotation: load the version, move if it has not changed.
			return retry(func() error {
				rec, err := s.Load(t.Context(), id)
				if err != nil || rec == nil {
					return fmt.Errorf("Load before Move: %v, %v", rec, err)
				}
				return s.Move(t.Context(), id, m, e.now().Add(time.Hour), rec.Version)
			})
		}
		for j := range 5 {
			c := e.change(store.Update)
			c.Set = vals(fmt.Sprintf("key-%d-%d", i, j), "v")
			_, err := commitRetry(t.Context(), s, id, c)
			if _, ok := store.IsMoved(err); ok {
				return nil
			}
			if err != nil {
				return fmt.Errorf("commit racing Move: %w", err)
			}
		}
		return nil
	})
	rec := mustLoad(t, s, id)
	if rec.Moved == nil || rec.Moved.To != m.To {
		t.Fatalf("record after Move: Moved = %+v, want a tombstone to %.8s…", rec.Moved, m.To)
	}
	if rec.Values.Len() != 0 {
		t.Errorf("tombstone holds %d values written by commits racing Move", rec.Values.Len())
	}
}
