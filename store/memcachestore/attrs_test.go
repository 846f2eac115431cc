package memcachestore_test

import (
	"maps"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// A record item written by the previous release (recordcodec's format 1,
// which this release still writes for a record without attributes; the
// codec's golden test pins the bytes) loads with no attributes, is listed,
// and takes attributes on its next commit that sets them; removing them
// writes format 1 again.
func TestPreviousFormatItem(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcachedClient(t, srv.Addr())
	p := prefix()
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(p))
	ctx := t.Context()
	id, user := newID(), "olga"
	now := time.Now()

	// The previous release's create: index entry, then the record.
	create(t, s, id, user, now.Add(time.Hour), map[string][]byte{"k": []byte("v")})
	format := func() byte {
		t.Helper()
		it, err := client.Get(p + "s:" + id)
		if err != nil {
			t.Fatal(err)
		}
		return it.Value[0]
	}
	old := &store.Record{Version: 1, UserID: user, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Values: store.ValuesOf(map[string][]byte{"k": []byte("v")})}
	b := recordcodec.Marshal(old)
	if b[0] != recordcodec.FormatV1 {
		t.Fatalf("a record without attributes encodes in format %d, want 1", b[0])
	}
	if err := client.Set(&memcache.Item{Key: p + "s:" + id, Value: b, Expiration: int32(now.Add(time.Hour).Unix())}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil || len(rec.Attrs) != 0 || string(rec.Values.Get("k")) != "v" {
		t.Fatalf("Load of a format-1 item = %+v, %v; want the record, no attributes", rec, err)
	}
	infos, err := s.UserSessions(ctx, user)
	if err != nil || len(infos) != 1 || len(infos[0].Attrs) != 0 {
		t.Fatalf("UserSessions over a format-1 item = %+v, %v", infos, err)
	}

	attrs := map[string]string{"device": "phone"}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs}); err != nil {
		t.Fatal(err)
	}
	if f := format(); f != recordcodec.FormatVersion {
		t.Errorf("a record with attributes is stored in format %d, want %d", f, recordcodec.FormatVersion)
	}
	infos, err = s.UserSessions(ctx, user)
	if err != nil || len(infos) != 1 || !maps.Equal(infos[0].Attrs, attrs) {
		t.Fatalf("UserSessions after setting attributes = %+v, %v", infos, err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true}); err != nil {
		t.Fatal(err)
	}
	if f := format(); f != recordcodec.FormatV1 {
		t.Errorf("a record whose attributes were removed is stored in format %d, want 1 (readable by the previous release)", f)
	}
}

// A create or an update carrying attributes whose reply is lost after it took
// effect is resent and reports success, and the attributes are there once,
// as sent.
func TestLostReplyWithAttrs(t *testing.T) {
	t.Parallel()
	s, px := lostReplyStore(t)
	ctx := t.Context()
	id := newID()
	now := time.Now()
	first := map[string]string{"device": "laptop", "$where": "1", "a.b": ""}
	px.loseOnce(t, "STORED", func() {
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			Set: map[string][]byte{"a": []byte("1")}, SetAttrs: true, Attrs: first})
		if err != nil {
			t.Fatalf("Create with attributes whose reply was lost: %v", err)
		}
	})
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil || !maps.Equal(rec.Attrs, first) || rec.Version != 1 {
		t.Fatalf("after a lost-reply create: %+v, %v", rec, err)
	}

	second := map[string]string{"device": "phone"}
	var res store.Result
	px.loseOnce(t, "STORED", func() {
		res, err = s.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: second})
		if err != nil {
			t.Fatalf("Update of attributes whose reply was lost: %v", err)
		}
	})
	rec, err = s.Load(ctx, id)
	if err != nil || rec == nil || !maps.Equal(rec.Attrs, second) || rec.Version != res.Version || string(rec.Values.Get("a")) != "1" {
		t.Fatalf("after a lost-reply update of attributes: %+v, %v (commit said version %d)", rec, err, res.Version)
	}
}
