package redisstore_test

import (
	"fmt"
	"testing"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// A version says which write made a record only while Redis keeps every
// write it acknowledged. An asynchronous replica promoted by a failover, or
// a restart from an RDB snapshot or an AOF fsynced once a second, hands the
// record back at an older version, and the next write reuses the lost
// write's version for other values (and, between touches, the same times).
// A caller that loaded the lost record before the failover passes it as its
// Base: a fast path that matched the header alone wrote the lost values
// back over the newer ones. The failover is played with DUMP and RESTORE.
func TestFastCommitAfterLostWrite(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	for _, fast := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			var opts []redisstore.Option
			if !fast {
				opts = append(opts, redisstore.WithoutFastCommit())
			}
			s := newStore(t, client, opts...)
			ctx := t.Context()
			id := newID()
			seedRecord(t, s, id)
			key := s.KeyPrefix() + "s:" + id
			snapshot := client.Dump(ctx, key).Val() // what the replica has
			pttl := client.PTTL(ctx, key).Val()

			// Acknowledged by the primary, never replicated.
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}}); err != nil {
				t.Fatal(err)
			}
			stale, err := s.Load(ctx, id) // a request loads it before the failover
			if err != nil || stale == nil {
				t.Fatal(stale, err)
			}

			// Failover: the replica's copy is the record now.
			if err := client.RestoreReplace(ctx, key, pttl, snapshot).Err(); err != nil {
				t.Fatal(err)
			}
			// Another request writes after the failover: the lost write's
			// version again.
			res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"kept": []byte("1")}})
			if err != nil || res.Version != stale.Version {
				t.Fatalf("the write after the failover: %v, %v; want version %d", res, err, stale.Version)
			}

			// The request that loaded before the failover commits.
			conflicts := s.Stats().FastConflicts
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("9")}, Base: stale}); err != nil {
				t.Fatal(err)
			}
			if c := s.Stats().FastConflicts; fast && c != conflicts+1 {
				t.Errorf("the fast path was not tried and refused (conflicts %d, then %d)", conflicts, c)
			}
			got, _ := s.Load(ctx, id)
			if v, ok := got.Values.Lookup("kept"); !ok || string(v) != "1" {
				t.Errorf("the write made after the failover is gone: keys %v", keysOf(got))
			}
			if _, ok := got.Values.Lookup("lost"); ok {
				t.Errorf("the write the failover lost came back: keys %v", keysOf(got))
			}
			if v, _ := got.Values.Lookup("n"); string(v) != "9" {
				t.Errorf("n = %q, want the last commit's 9", v)
			}
		})
	}
}

// The commit script adds new keys at the end of the record, so a key that
// sorts before the others leaves pairs out of key order, which no Base's
// packing is: such a record's fast commits miss and the commit script
// applies them, correctly, until a fast commit can match again. A Base
// loaded from the record is still a valid one.
func TestFastCommitRecordOutOfKeyOrder(t *testing.T) {
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()))
	ctx := t.Context()
	id := newID()
	seedRecord(t, s, id) // keys a, b, n
	// No Base: the commit script appends "0", which sorts first.
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"0": []byte("z")}}); err != nil {
		t.Fatal(err)
	}
	base, err := s.Load(ctx, id)
	if err != nil || base == nil {
		t.Fatal(base, err)
	}
	before := s.Stats()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("1")}, Base: base}); err != nil {
		t.Fatal(err)
	}
	if after := s.Stats(); after.FastCommits != before.FastCommits || after.FastConflicts != before.FastConflicts+1 {
		t.Errorf("stats %+v, then %+v; want one more conflict", before, after)
	}
	got, _ := s.Load(ctx, id)
	for k, want := range map[string]string{"0": "z", "a": "1", "n": "1"} {
		if v, _ := got.Values.Lookup(k); string(v) != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
}

func keysOf(r *store.Record) []string {
	var ks []string
	for k := range r.Values.Keys() {
		ks = append(ks, k)
	}
	return ks
}
