package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/tether-go/tether/store"
)

// The per-record limit is counted on [store.Record.Size], the same on every
// backend: what a backend's encoding costs on top must not eat into it.

// atLimit returns values that, with a user id of userLen bytes, make a record
// of exactly n bytes: values of many sizes (empty, one byte, a few hundred),
// under keys of several lengths, and one value "big" taking the rest, close
// to n. seed varies the big value's bytes.
func atLimit(t *testing.T, n, userLen int, seed byte) map[string][]byte {
	t.Helper()
	values := map[string][]byte{}
	left := n - userLen - len("big")
	budget := min(n/8, 8<<10)
	for i := 0; ; i++ {
		k := fmt.Sprintf("%0*d", 1+i%5, i) // keys of 1 to 5 bytes
		size := (i * i * 7) % 300
		if len(k)+size > budget {
			break
		}
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(i + j)
		}
		values[k] = v
		budget -= len(k) + size
		left -= len(k) + size
	}
	if left < 0 {
		t.Fatalf("storetest: a per-record limit of %d bytes is too small to test", n)
	}
	big := randomBytes(left)
	for i := range big {
		big[i] ^= seed
	}
	values["big"] = big
	return values
}

func recordSize(user string, values map[string][]byte) int {
	r := store.Record{UserID: user, Values: store.ValuesOf(values)}
	return r.Size()
}

// A record of exactly the limit is stored intact, by Create and by an
// Update that replaces its largest value with another of the same size
// (the replaced value no longer counts).
func testRecordAtLimit(t *testing.T, e *env) {
	s := e.store(t)
	n := e.cfg.maxRecord
	id, user := newID(), newUser()
	values := atLimit(t, n, len(user), 0)
	if got := recordSize(user, values); got != n {
		t.Fatalf("storetest bug: record of %d bytes, want %d", got, n)
	}
	c := e.change(store.Create)
	c.Set, c.UserID, c.SetUserID = values, user, true
	if _, err := s.Commit(e.ctx(t), id, c); err != nil {
		t.Fatalf("Create of a record of exactly the limit (%d bytes, %d values, the largest %d bytes): %v",
			n, len(values), len(values["big"]), err)
	}
	rec := mustLoad(t, s, id)
	wantValues(t, rec, values)
	if rec.UserID != user {
		t.Errorf("UserID = %q, want %q", rec.UserID, user)
	}

	other := atLimit(t, n, len(user), 0x5a)
	if _, err := s.Commit(e.ctx(t), id, store.Change{Mode: store.Update, Set: map[string][]byte{"big": other["big"]}}); err != nil {
		t.Fatalf("Update replacing the largest value by one of the same size: %v", err)
	}
	values["big"] = other["big"]
	wantValues(t, mustLoad(t, s, id), values)
}

// One byte over the limit is refused with a *store.TooLargeError, whichever
// part of the record brings it over (a value, a key, the user id), and the
// stored record and user index are left as they were.
func testRecordOverLimit(t *testing.T, e *env) {
	s := e.store(t)
	n := e.cfg.maxRecord

	id, user := newID(), newUser()
	c := e.change(store.Create)
	c.Set, c.UserID, c.SetUserID = atLimit(t, n+1, len(user), 0), user, true
	_, err := s.Commit(e.ctx(t), id, c)
	wantTooLarge(t, e, "Create of a record one byte over the limit", err)
	wantMissing(t, s, id, "after a refused Create")
	wantUserSessions(t, e, s, user)

	// A record at the limit takes no byte more.
	values := atLimit(t, n, len(user), 0)
	e.create(t, s, id, user, values)
	before := cloneRecord(mustLoad(t, s, id))
	var small string // a key with a non-empty value, other than big
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if k != "big" && len(values[k]) > 0 {
			small = k
			break
		}
	}
	for _, u := range []struct {
		what string
		c    store.Change
	}{
		{"a new key with an empty value", store.Change{Mode: store.Update, Set: map[string][]byte{"x": {}}}},
		{"a value one byte longer", store.Change{Mode: store.Update, Set: map[string][]byte{small: append(values[small], 0)}}},
		{"a user id one byte longer", store.Change{Mode: store.Update, SetUserID: true, UserID: user + "x"}},
		{"a delete and a larger set", store.Change{Mode: store.Update, Delete: []string{small}, Set: map[string][]byte{small + "x": values[small]}}},
	} {
		_, err := s.Commit(e.ctx(t), id, u.c)
		wantTooLarge(t, e, "Update adding "+u.what, err)
		wantSameRecord(t, "record at the limit after a refused Update adding "+u.what, mustLoad(t, s, id), before)
	}
	wantUserSessions(t, e, s, user, id)
	wantUserSessions(t, e, s, user+"x")
}

func wantTooLarge(t *testing.T, e *env, op string, err error) {
	t.Helper()
	var tl *store.TooLargeError
	switch {
	case !errors.As(err, &tl) || !errors.Is(err, store.ErrTooLarge):
		t.Errorf("%s: error %v, want a *store.TooLargeError matching store.ErrTooLarge", op, err)
	case tl.Limit != e.cfg.maxRecord || tl.Size <= tl.Limit:
		t.Errorf("%s: %v, want Limit %d (storetest.WithMaxRecordSize) and a Size above it", op, err, e.cfg.maxRecord)
	}
}
