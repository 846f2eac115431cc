package redisstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// A version says which write made a record only while Redis keeps every
// write it acknowledged. An asynchronous replica promoted by a failover, or
// a restart from an RDB snapshot or an AOF fsynced once a second, hands the
// record back at an older version, and with steps of one the next write
// reused the lost write's version for other values (and, between touches,
// the same times). A caller that loaded the lost record before the failover
// passes it as its Base: a fast path that matched the header alone wrote
// the lost values back over the newer ones; the fast path compares the
// whole string, and versions step by random amounts (versionStep). The
// failover is played with DUMP and RESTORE.
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
			// Another request writes after the failover, from the same
			// version the lost write started from: with steps of one it
			// got the lost write's version again.
			res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"kept": []byte("1")}})
			if err != nil || res.Version == stale.Version {
				t.Fatalf("the write after the failover: %v, %v; the lost write's version is %d", res, err, stale.Version)
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

// The rotation's side of a lost write: a request that loaded the lost
// record copies its values into the new one and moves the old record away
// if it is still at the version it loaded. After a failover the next write
// must not have that version, or the Move passes and the new record holds
// the lost values without the write made after the failover. Touch is the
// other write that raises a record's version.
func TestMoveAfterLostWrite(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := newStore(t, client)
	ctx := t.Context()
	for _, after := range []string{"commit", "touch"} {
		t.Run(after, func(t *testing.T) {
			id := newID()
			seedRecord(t, s, id)
			key := s.KeyPrefix() + "s:" + id
			snapshot := client.Dump(ctx, key).Val()
			pttl := client.PTTL(ctx, key).Val()
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}}); err != nil {
				t.Fatal(err)
			}
			stale, err := s.Load(ctx, id)
			if err != nil || stale == nil {
				t.Fatal(stale, err)
			}
			if err := client.RestoreReplace(ctx, key, pttl, snapshot).Err(); err != nil {
				t.Fatal(err)
			}
			switch after {
			case "commit":
				_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"kept": []byte("1")}})
			case "touch":
				err = s.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour))
			}
			if err != nil {
				t.Fatal(err)
			}
			err = s.Move(ctx, id, store.Moved{To: newID()}, time.Now().Add(time.Minute), stale.Version)
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("Move at the lost write's version %d: %v, want ErrConflict", stale.Version, err)
			}
		})
	}
}

// The commit script adds new keys at the end of the record, so a key that
// sorts before the others leaves pairs out of key order, which no Base's
// packing is: the fast script misses and replies with the stored record,
// and the second try, compared with that, writes the record anew in key
// order; the next commit's Base then matches at once.
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
	commit := func(n string) redisstore.Stats {
		t.Helper()
		base, err := s.Load(ctx, id)
		if err != nil || base == nil {
			t.Fatal(base, err)
		}
		before := s.Stats()
		res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte(n)}, Base: base})
		if err != nil || res.Before() != base.Version || res.Version <= base.Version {
			t.Fatalf("commit: %v, %v; want it applied to version %d", res, err, base.Version)
		}
		after := s.Stats()
		return redisstore.Stats{FastCommits: after.FastCommits - before.FastCommits, FastConflicts: after.FastConflicts - before.FastConflicts}
	}
	if d := commit("1"); d != (redisstore.Stats{FastCommits: 1, FastConflicts: 1}) {
		t.Errorf("out of order: %+v; want one conflict, then the fast commit", d)
	}
	if d := commit("2"); d != (redisstore.Stats{FastCommits: 1}) {
		t.Errorf("after the rewrite: %+v; want the fast commit at once", d)
	}
	got, _ := s.Load(ctx, id)
	for k, want := range map[string]string{"0": "z", "a": "1", "n": "2"} {
		if v, _ := got.Values.Lookup(k); string(v) != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
}

// A fast commit that misses tries once more on the record the mismatch
// replied with; if another write comes in between (here, from the hook),
// the second try misses too and the commit script applies the change on top
// of both: every write is kept. A record over the fast path's size is not
// replied with, and goes to the commit script after one miss.
func TestFastCommitRetry(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	var s *redisstore.Store
	var between func(id string)
	s = newStore(t, client, redisstore.WithBeforeFastRetry(func(id string) {
		if between != nil {
			between(id)
		}
	}))
	ctx := t.Context()
	write := func(id, k, v string, base *store.Record) {
		t.Helper()
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{k: []byte(v)}, Base: base}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name       string
		big, third bool
		want       redisstore.Stats // the commit's, after the other write
	}{
		{name: "retry applies", want: redisstore.Stats{FastCommits: 1, FastConflicts: 1}},
		{name: "a third write in between", third: true, want: redisstore.Stats{FastConflicts: 2}},
		{name: "record over the cap", big: true, want: redisstore.Stats{FastConflicts: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := newID()
			base := seedRecord(t, s, id)
			other := "x"
			if tc.big {
				other = strings.Repeat("x", 9000)
			}
			write(id, "a", other, nil) // another request's write: base is stale
			between = nil
			if tc.third {
				between = func(id string) { between = nil; write(id, "c", "3", nil) }
			}
			before := s.Stats()
			write(id, "n", "9", base)
			after := s.Stats()
			if d := (redisstore.Stats{FastCommits: after.FastCommits - before.FastCommits, FastConflicts: after.FastConflicts - before.FastConflicts}); d != tc.want {
				t.Errorf("stats moved by %+v, want %+v", d, tc.want)
			}
			got, _ := s.Load(ctx, id)
			want := map[string]string{"a": other, "n": "9"}
			if tc.third {
				want["c"] = "3"
			}
			for k, v := range want {
				if g, _ := got.Values.Lookup(k); string(g) != v {
					t.Errorf("%s = %.20q, want %.20q", k, g, v)
				}
			}
		})
	}
}

func keysOf(r *store.Record) []string {
	var ks []string
	for k := range r.Values.Keys() {
		ks = append(ks, k)
	}
	return ks
}
