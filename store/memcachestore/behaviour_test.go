package memcachestore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
	"go.uber.org/goleak"
)

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func indexKey(prefix, user string) string {
	sum := sha256.Sum256([]byte(user))
	return prefix + "u:" + hex.EncodeToString(sum[:])
}

func create(t *testing.T, s store.Store, id, user string, expires time.Time, values map[string][]byte) {
	t.Helper()
	now := time.Now()
	_, err := s.Commit(t.Context(), id, store.Change{
		Mode: store.Create, Created: now, LastSeen: now, Expires: expires,
		Set: values, SetUserID: true, UserID: user,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
}

func listed(t *testing.T, s store.Store, user string) []string {
	t.Helper()
	infos, err := s.UserSessions(t.Context(), user)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	var ids []string
	for _, in := range infos {
		ids = append(ids, in.ID)
	}
	return ids
}

// A record expiring in 1.2s is there at 1.0s, unloadable from its expiry on,
// and removed by memcached itself soon after: the expiry went out as an
// absolute time, rounded up, never early.
func TestExpiryRounding(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcachedClient(t, srv.Addr())
	p := prefix()
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(p))
	id := newID()
	start := time.Now()
	expires := start.Add(1200 * time.Millisecond)
	create(t, s, id, "", expires, map[string][]byte{"a": []byte("1")})

	time.Sleep(time.Until(start.Add(time.Second)))
	rec, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil && time.Now().Before(expires) {
		t.Fatal("record gone at 1.0s, before its expiry at 1.2s")
	}
	for {
		rec, err := s.Load(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if rec == nil {
			if now.Before(expires) {
				t.Errorf("record gone %v before its expiry", expires.Sub(now))
			}
			break
		}
		if now.After(start.Add(3 * time.Second)) {
			t.Fatalf("record still loadable %v after its expiry", now.Sub(expires))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Memcached drops the item by itself: at most 2 whole seconds of
	// rounding and pad after the expiry, plus its clock's once-a-second tick.
	key := p + "s:" + id
	for {
		_, err := client.Get(key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(expires) > 3500*time.Millisecond {
			t.Fatalf("memcached still holds the item %v after its expiry", time.Since(expires))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A user index that memcached evicted (here: deleted behind the store's back)
// is rebuilt by the next Touch of each session.
func TestTouchRepairsEvictedIndex(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcachedClient(t, srv.Addr())
	p := prefix()
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(p))
	user, id := "alice", newID()
	create(t, s, id, user, time.Now().Add(time.Hour), nil)
	if ids := listed(t, s, user); len(ids) != 1 {
		t.Fatalf("listed %v before the eviction", ids)
	}
	if err := client.Delete(indexKey(p, user)); err != nil {
		t.Fatal(err)
	}
	if ids := listed(t, s, user); len(ids) != 0 {
		t.Fatalf("listed %v with the index gone", ids)
	}
	now := time.Now()
	if err := s.Touch(t.Context(), id, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ids := listed(t, s, user); len(ids) != 1 || ids[0] != id {
		t.Errorf("listed %v after a Touch, want the session back", ids)
	}
	if n, err := s.DeleteUser(t.Context(), user); n != 1 || err != nil {
		t.Errorf("DeleteUser = %d, %v; want 1, nil", n, err)
	}
}

// Bytes under the store's keys that it did not write are reported as faults
// matching ErrCorrupt, never as "no session", and never panic. Delete still
// removes a corrupt record.
func TestCorruptItems(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcachedClient(t, srv.Addr())
	p := prefix()
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(p), memcachestore.WithLogger(slog.New(slog.DiscardHandler)))
	ctx := t.Context()
	id := newID()
	for _, junk := range [][]byte{{}, {1}, []byte("garbage"), {1, 0, 0xff}, {2, 0x0e, 1, 0, 0, 0}, {2, 0x0e, 1, 0, 1, 0xff}} {
		if err := client.Set(&memcache.Item{Key: p + "s:" + id, Value: junk}); err != nil {
			t.Fatal(err)
		}
		if rec, err := s.Load(ctx, id); !errors.Is(err, memcachestore.ErrCorrupt) {
			t.Errorf("Load of %x = %v, %v; want ErrCorrupt", junk, rec, err)
		}
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": nil}})
		if !errors.Is(err, memcachestore.ErrCorrupt) {
			t.Errorf("Commit over %x: %v, want ErrCorrupt", junk, err)
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Errorf("Delete of a corrupt record: %v", err)
		}
		if rec, err := s.Load(ctx, id); rec != nil || err != nil {
			t.Errorf("Load after Delete = %v, %v; want nil, nil", rec, err)
		}
	}
	user := "mallory"
	if err := client.Set(&memcache.Item{Key: indexKey(p, user), Value: []byte{1, 5, 200}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserSessions(ctx, user); !errors.Is(err, memcachestore.ErrCorrupt) {
		t.Errorf("UserSessions over a corrupt index: %v, want ErrCorrupt", err)
	}
	if _, err := s.DeleteUser(ctx, user); !errors.Is(err, memcachestore.ErrCorrupt) {
		t.Errorf("DeleteUser over a corrupt index: %v, want ErrCorrupt", err)
	}
}

// New has no error result: a configuration it cannot use makes every method
// fail, Ping first, rather than writing keys memcached would refuse.
func TestInvalidConfiguration(t *testing.T) {
	t.Parallel()
	client := memcache.New("127.0.0.1:1") // never dialled
	for name, s := range map[string]*memcachestore.Store{
		"nil client":   memcachestore.New(nil),
		"space":        memcachestore.New(client, memcachestore.WithKeyPrefix("my app:")),
		"control char": memcachestore.New(client, memcachestore.WithKeyPrefix("app\n")),
		"too long":     memcachestore.New(client, memcachestore.WithKeyPrefix(strings.Repeat("p", 185))),
	} {
		ctx := context.Background()
		if err := s.Ping(ctx); err == nil || !strings.HasPrefix(err.Error(), "memcachestore:") {
			t.Errorf("%s: Ping = %v, want a configuration error", name, err)
		}
		if _, err := s.Load(ctx, newID()); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
		if _, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, Expires: time.Now().Add(time.Hour)}); err == nil {
			t.Errorf("%s: Commit succeeded", name)
		}
	}
	// Non-positive numbers and a nil logger select the defaults.
	s := memcachestore.New(client, memcachestore.WithMaxItemSize(0), memcachestore.WithCASRetries(-1), memcachestore.WithLogger(nil),
		memcachestore.WithKeyPrefix(strings.Repeat("p", 184)))
	if _, err := s.Load(context.Background(), newID()); err == nil || strings.Contains(err.Error(), "prefix") {
		t.Errorf("valid configuration: Load = %v, want a connection error", err)
	}
}

// The store starts no goroutine of its own, and the client's (GetMulti across
// two servers) are gone when calls return.
func TestNoGoroutineLeak(t *testing.T) {
	a, b := testserver.Memcached(t), testserver.Memcached(t)
	before := goleak.IgnoreCurrent() // the servers' own
	client := memcache.New(a.Addr(), b.Addr())
	client.Timeout = 5 * time.Second
	defer client.Close()
	defer goleak.VerifyNone(t, before)
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(prefix()))
	for range 8 {
		create(t, s, newID(), "bob", time.Now().Add(time.Hour), map[string][]byte{"k": []byte("v")})
	}
	if ids := listed(t, s, "bob"); len(ids) != 8 {
		t.Fatalf("listed %d sessions, want 8", len(ids))
	}
	if n, err := s.DeleteUser(t.Context(), "bob"); n != 8 || err != nil {
		t.Fatalf("DeleteUser = %d, %v", n, err)
	}
}
