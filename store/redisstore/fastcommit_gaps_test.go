package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// The fast script refuses a late write itself: a commit with a Base held on
// a frozen link until its caller's deadline has passed reaches Redis after
// it, and the fast script (the only one sent: the caller gave up before any
// fallback) must not apply it. TestLateWritesDoNotApply is the same for the
// commit script.
func TestFastCommitLateWriteDoesNotApply(t *testing.T) {
	rdb := testserver.Redis(t)
	direct := newStore(t, newClient(t, rdb.Addr()))
	p := testserver.NewProxy(t, rdb.Addr())
	client := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, PoolSize: 1})
	t.Cleanup(func() { client.Close() })
	s := newStore(t, client, redisstore.WithPrefix(direct.KeyPrefix()), redisstore.WithPolicyCheck(false))
	ctx := t.Context()
	id := newID()
	base := seedRecord(t, direct, id)
	// The fast script loaded: what is frozen is the write, not a NOSCRIPT.
	warm := newID()
	wbase := seedRecord(t, direct, warm)
	if _, err := s.Commit(ctx, warm, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("1")}, Base: wbase}); err != nil {
		t.Fatal(err)
	}
	applied, _ := s.FastCommits()
	if applied != 1 {
		t.Fatalf("the warm-up commit did not take the fast path")
	}

	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	p.Freeze()
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := s.Commit(wctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("late")}, Base: base})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a fast commit through a frozen link: %v, want context.DeadlineExceeded", err)
	}
	if n := p.Held(); n != 1 {
		t.Fatalf("the frozen link holds %d requests, want 1", n)
	}
	rdb.ResetStats(t)
	p.Thaw()
	eventually(t, "the fast script run after the thaw", func() bool { return rdb.CommandStats(t)["evalsha"] == 1 })
	rec, _ := direct.Load(ctx, id)
	if rec == nil || string(rec.Values.Get("a")) != "1" || rec.Version != base.Version {
		t.Errorf("the late fast commit applied: %+v", rec)
	}
}

// Above the size cap the commit goes to the commit script: the fast path
// would send the whole record for a change of a few bytes. The outcome is
// the same either way.
func TestFastCommitSizeCap(t *testing.T) {
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()), redisstore.WithFastCommitMax(1000))
	id := newID()
	base := seedRecord(t, s, id) // about 300 bytes
	res, err := s.Commit(t.Context(), id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("1")}, Base: base})
	if err != nil || res.Before() != base.Version {
		t.Fatal(res, err)
	}
	if applied, missed := s.FastCommits(); applied != 1 || missed != 0 {
		t.Errorf("a record under the cap: %d applied, %d missed; want the fast path", applied, missed)
	}
	base, _ = s.Load(t.Context(), id)
	big := strings.Repeat("y", 900)
	res, err = s.Commit(t.Context(), id, store.Change{Mode: store.Update, Set: map[string][]byte{"big": []byte(big)}, Base: base})
	if err != nil || res.Before() != base.Version {
		t.Fatal(res, err)
	}
	if applied, missed := s.FastCommits(); applied != 1 || missed != 1 {
		t.Errorf("a record over the cap: %d applied, %d missed; want the commit script", applied, missed)
	}
	got, _ := s.Load(t.Context(), id)
	if string(got.Values.Get("big")) != big || string(got.Values.Get("n")) != "1" {
		t.Errorf("values %v", keysOf(got))
	}
	// And the default cap lets a small session through.
	d := newStore(t, newClient(t, rdb.Addr()))
	id = newID()
	base = seedRecord(t, d, id)
	if _, err := d.Commit(t.Context(), id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("1")}, Base: base}); err != nil {
		t.Fatal(err)
	}
	if applied, _ := d.FastCommits(); applied != 1 {
		t.Errorf("the default cap sends a %d-byte session to the commit script", base.Size())
	}
}

// Commits of one record at once, all with the same Base (so one at most
// can take the fast path against it, the others miss and go to the commit
// script), some without, with the same times: every write lands, each at a
// version of its own.
func TestFastCommitConcurrentBasesKeepEveryWrite(t *testing.T) {
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()))
	for round := range 20 {
		id := newID()
		base := seedRecord(t, s, id)
		const n = 16
		var wg sync.WaitGroup
		versions := make([]uint64, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := store.Change{Mode: store.Update, Set: map[string][]byte{fmt.Sprintf("k%02d", i): []byte("1")},
					LastSeen: base.LastSeen, Expires: base.Expires}
				if i%4 != 3 {
					c.Base = base
				}
				res, err := s.Commit(t.Context(), id, c)
				if err != nil {
					t.Error(err)
				}
				versions[i] = res.Version
			}()
		}
		wg.Wait()
		got, _ := s.Load(t.Context(), id)
		if got.Values.Len() != 3+n || got.Version != slices.Max(versions) {
			t.Fatalf("round %d: version %d, keys %v; want every one of %d writes", round, got.Version, keysOf(got), n)
		}
		seen := map[uint64]bool{}
		for _, v := range versions {
			if seen[v] {
				t.Fatalf("round %d: two commits reported version %d", round, v)
			}
			seen[v] = true
		}
	}
	applied, missed := s.FastCommits()
	t.Logf("fast path: %d applied, %d missed", applied, missed)
}
