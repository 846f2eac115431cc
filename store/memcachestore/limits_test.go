package memcachestore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// wantTooLarge checks that err is a *store.TooLargeError of the given size
// and limit.
func wantTooLarge(t *testing.T, op string, err error, size, limit int) {
	t.Helper()
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, store.ErrTooLarge) || tl.Size != size || tl.Limit != limit {
		t.Errorf("%s: %v, want a *store.TooLargeError of %d bytes, limit %d", op, err, size, limit)
	}
}

// The per-record limit counts what the application stored (Record.Size), the
// same on every backend: a record of exactly the limit is stored, one byte
// more is refused by a create and by an update, and the refused update
// leaves the record as it was.
func TestRecordLimit(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "2m"))
	client := memcachedClient(t, srv.Addr())
	for _, tc := range []struct {
		name  string
		opts  []memcachestore.Option
		limit int
	}{
		{"Default", nil, store.DefaultMaxRecordSize},
		{"Configured", []memcachestore.Option{memcachestore.WithMaxRecordSize(1000)}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memcachestore.New(client, append(tc.opts, memcachestore.WithKeyPrefix(prefix()))...)
			ctx := t.Context()
			now := time.Now()
			const user = "ida"
			// user id + key + value = limit exactly.
			value := strings.Repeat("v", tc.limit-len(user)-1)
			id := newID()
			create(t, s, id, user, now.Add(time.Hour), map[string][]byte{"k": []byte(value)})
			rec, err := s.Load(ctx, id)
			if err != nil || rec == nil || rec.Size() != tc.limit {
				t.Fatalf("record at the limit: %v, %v", rec, err)
			}

			_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"x": nil}})
			wantTooLarge(t, "update one byte over", err, tc.limit+1, tc.limit)
			after, err := s.Load(ctx, id)
			if err != nil || after == nil || after.Version != rec.Version || after.Values.Len() != 1 {
				t.Errorf("after the refused update: %v (version %d), want the record as it was (version %d, one value)", err, versionOf(after), rec.Version)
			}

			_, err = s.Commit(ctx, newID(), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
				SetUserID: true, UserID: user + "x", Set: map[string][]byte{"k": []byte(value)}})
			wantTooLarge(t, "create one byte over", err, tc.limit+1, tc.limit)
		})
	}
}

// A record of 1 MiB in the shape whose encoding is largest (as many keys as
// possible, empty values) still fits memcached -I 2m, as the documentation
// of WithMaxItemSize promises.
func TestRecordLimitWorstEncoding(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "2m"))
	s := memcachestore.New(memcachedClient(t, srv.Addr()), memcachestore.WithKeyPrefix(prefix()))
	values := map[string][]byte{}
	size := 0
	for n := 1; size < store.DefaultMaxRecordSize; n++ {
		// The n-th shortest distinct key: 1, 2, then 3 bytes.
		k := shortKey(n)
		if size+len(k) > store.DefaultMaxRecordSize {
			k = k[:store.DefaultMaxRecordSize-size]
			if _, dup := values[k]; dup {
				break
			}
		}
		values[k] = []byte{}
		size += len(k)
	}
	id := newID()
	create(t, s, id, "", time.Now().Add(time.Hour), values)
	rec, err := s.Load(t.Context(), id)
	if err != nil || rec == nil || rec.Values.Len() != len(values) {
		t.Fatalf("Load of the worst-shaped record: %v, %v; want %d values", rec != nil, err, len(values))
	}
	t.Logf("%d keys, record size %d, encoded %d bytes", len(values), rec.Size(), len(recordcodec.Marshal(rec)))
}

func versionOf(rec *store.Record) uint64 {
	if rec == nil {
		return 0
	}
	return rec.Version
}

// shortKey returns the n-th key (from 1) in order of length: every 1-byte
// key, then every 2-byte key, then 3-byte keys.
func shortKey(n int) string {
	n--
	switch {
	case n < 256:
		return string([]byte{byte(n)})
	case n < 256+65536:
		n -= 256
		return string([]byte{byte(n >> 8), byte(n)})
	}
	n -= 256 + 65536
	return string([]byte{byte(n >> 16), byte(n >> 8), byte(n)})
}

// On a memcached whose item limit (-I) is smaller than the store was told,
// the server refuses the item, and the error is still typed: the request
// gets the store's "too large", not an outage, and the record is kept.
func TestServerRefusesItem(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t) // -I 1m; the store's default item limit is for -I 2m
	s := memcachestore.New(memcachedClient(t, srv.Addr()), memcachestore.WithKeyPrefix(prefix()))
	ctx := t.Context()
	id := newID()
	create(t, s, id, "", time.Now().Add(time.Hour), map[string][]byte{"a": []byte("1")})
	big := []byte(strings.Repeat("b", store.DefaultMaxRecordSize-10))
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"big": big}})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("update over the server's -I: %v, want an error matching store.ErrTooLarge", err)
	}
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.Values.Len() != 1 || rec.Version != 1 {
		t.Errorf("after the refused update: %v (version %d), want the record as it was (version 1)", err, versionOf(rec))
	}
	now := time.Now()
	_, err = s.Commit(ctx, newID(), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"big": big}})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("create over the server's -I: %v, want an error matching store.ErrTooLarge", err)
	}
}
