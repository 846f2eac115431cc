package redisstore_test

import (
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// legacyEnv writes sessions as the previous layout did: one hash per
// session, values under "v:", metadata under "m:", indexed under its user
// with its score in m:us.
type legacyEnv struct {
	t      *testing.T
	client *redis.Client
	s      *redisstore.Store
	now    time.Time
}

func newLegacyEnv(t *testing.T) *legacyEnv {
	client := newClient(t, testserver.Redis(t).Addr())
	return &legacyEnv{t: t, client: client, s: newStore(t, client, redisstore.WithPrefix("tether:")),
		now: time.UnixMilli(time.Now().UnixMilli())}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// hash stores a session of user (indexed, if not "") with values, as the
// previous layout did, version 4.
func (e *legacyEnv) hash(id, user string, values map[string]string, attrs string) {
	e.t.Helper()
	ctx := e.t.Context()
	key := "tether:s:" + id
	f := map[string]any{"m:v": "4", "m:c": ms(e.now.Add(-time.Hour)), "m:l": ms(e.now), "m:e": ms(e.now.Add(time.Hour)), "m:n": "0"}
	for k, v := range values {
		f["v:"+k] = v
	}
	if attrs != "" {
		f["m:a"] = attrs
	}
	if user != "" {
		score := float64(e.now.UnixMilli())
		if err := e.client.ZAdd(ctx, "tether:u:"+user, redis.Z{Score: score, Member: id}).Err(); err != nil {
			e.t.Fatal(err)
		}
		f["m:u"], f["m:us"] = user, strconv.FormatInt(int64(score), 10)
	}
	if err := e.client.HSet(ctx, key, f).Err(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.client.PExpireAt(ctx, key, e.now.Add(time.Hour)).Err(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *legacyEnv) isString(id string) bool {
	e.t.Helper()
	typ, err := e.client.Type(e.t.Context(), "tether:s:"+id).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return typ == "string"
}

// A session written as a hash by the previous layout is read as it was
// (Load, Version, UserSessions), and each kind of write turns it into a
// string of the new layout that keeps everything it held, its expiry and its
// index entry's score, so that a later logout still takes the entry out.
func TestLegacyHash(t *testing.T) {
	e := newLegacyEnv(t)
	ctx := t.Context()
	long := string(make([]byte, 100)) // made the old hash a hash table
	values := map[string]string{"cart": "3", "long": long, "": "empty key"}
	attrs := "\x06device\x06laptop"

	id := newID()
	e.hash(id, "alice", values, attrs)
	rec, err := e.s.Load(ctx, id)
	if err != nil || rec == nil || rec.Version != 4 || rec.UserID != "alice" || rec.Attrs["device"] != "laptop" ||
		!rec.Expires.Equal(e.now.Add(time.Hour)) || !rec.Created.Equal(e.now.Add(-time.Hour)) {
		t.Fatalf("Load of a hash = %+v, %v", rec, err)
	}
	if v, err := e.s.Version(ctx, id); v != 4 || err != nil {
		t.Errorf("Version of a hash = %d, %v; want 4", v, err)
	}
	if infos, err := e.s.UserSessions(ctx, "alice"); err != nil || len(infos) != 1 || infos[0].ID != id || infos[0].Attrs["device"] != "laptop" {
		t.Errorf("UserSessions over a hash = %+v, %v", infos, err)
	}

	// Touch: a string with the new times, everything else kept.
	later := e.now.Add(time.Minute)
	if err := e.s.Touch(ctx, id, later, later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !e.isString(id) {
		t.Fatal("a touched hash is still a hash")
	}
	got, err := e.s.Load(ctx, id)
	if err != nil || got.Version <= rec.Version || !got.LastSeen.Equal(later) || !got.Expires.Equal(later.Add(time.Hour)) ||
		!got.Created.Equal(rec.Created) || got.UserID != "alice" || !maps.Equal(got.Attrs, rec.Attrs) ||
		!maps.Equal(values, stringsOf(got.Values)) {
		t.Fatalf("after Touch of a hash: %+v, %v", got, err)
	}
	if exp, _ := e.client.PExpireTime(ctx, "tether:s:"+id).Result(); exp != time.Duration(later.Add(time.Hour).UnixMilli())*time.Millisecond {
		t.Errorf("after Touch of a hash: PEXPIRETIME %v", exp)
	}

	// Commit: a logout (the user cleared) of a hash takes its entry out of
	// the index, by the score the hash recorded.
	id2 := newID()
	e.hash(id2, "alice", values, "")
	if _, err := e.s.Commit(ctx, id2, store.Change{Mode: store.Update, SetUserID: true, Set: map[string][]byte{"cart": []byte("4")}, Delete: []string{""}}); err != nil {
		t.Fatal(err)
	}
	if !e.isString(id2) {
		t.Fatal("a hash committed to is still a hash")
	}
	got, err = e.s.Load(ctx, id2)
	want := map[string]string{"cart": "4", "long": long}
	if err != nil || got.Version <= 4 || got.UserID != "" || !maps.Equal(want, stringsOf(got.Values)) { // the hash was at version 4
		t.Fatalf("after a commit to a hash: %+v, %v", got, err)
	}
	if exp, _ := e.client.PExpireTime(ctx, "tether:s:"+id2).Result(); exp != time.Duration(e.now.Add(time.Hour).UnixMilli())*time.Millisecond {
		t.Errorf("after a commit to a hash: PEXPIRETIME %v, want the hash's", exp)
	}
	if _, err := e.client.ZScore(ctx, "tether:u:alice", id2).Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("after a logout of a hash its index entry is still there (%v)", err)
	}

	// Move: a tombstone; the old ID forwards.
	id3, to := newID(), newID()
	e.hash(id3, "", values, "")
	if err := e.s.Move(ctx, id3, store.Moved{To: to, Sealed: []byte("sealed")}, e.now.Add(time.Minute), 4); err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.Load(ctx, id3); err != nil || got.Moved == nil || got.Moved.To != to || string(got.Moved.Sealed) != "sealed" {
		t.Fatalf("after a Move of a hash: %+v, %v", got, err)
	}

	// A tombstone of the previous layout forwards as it did.
	id4 := newID()
	e.client.HSet(ctx, "tether:s:"+id4, "m:v", "2", "m:to", to, "m:sealed", "s2", "m:e", ms(e.now.Add(time.Minute)))
	e.client.PExpireAt(ctx, "tether:s:"+id4, e.now.Add(time.Minute))
	_, err = e.s.Commit(ctx, id4, store.Change{Mode: store.Update, Set: map[string][]byte{"a": nil}})
	var me *store.MovedError
	if !errors.As(err, &me) || me.Moved.To != to || string(me.Moved.Sealed) != "s2" {
		t.Errorf("a commit to a hash tombstone: %v, want MovedError to %.8s", err, to)
	}
	if err := e.s.Move(ctx, id4, store.Moved{To: to}, e.now.Add(time.Minute), 0); err != nil {
		t.Errorf("a Move resent to its own hash tombstone: %v", err)
	}

	// DeleteUser ends hash sessions, counted, and Delete deletes one.
	id5, id6 := newID(), newID()
	e.hash(id5, "bob", values, "")
	e.hash(id6, "bob", values, "")
	if n, err := e.s.DeleteUser(ctx, "bob"); n != 2 || err != nil {
		t.Errorf("DeleteUser over hashes = %d, %v; want 2", n, err)
	}
	if got, err := e.s.Load(ctx, id5); err != nil || got == nil || got.Moved == nil || got.Moved.To != id5 {
		t.Errorf("a hash session DeleteUser ended: %+v, %v; want a tombstone", got, err)
	}
	id7 := newID()
	e.hash(id7, "carol", values, "")
	if err := e.s.Delete(ctx, id7); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s.Load(ctx, id7); got != nil {
		t.Errorf("a deleted hash loads as %+v", got)
	}
	if _, err := e.client.ZScore(ctx, "tether:u:carol", id7).Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("after Delete of a hash its index entry is still there (%v)", err)
	}
}

func stringsOf(v store.Values) map[string]string {
	m := map[string]string{}
	for k, b := range v.All() {
		m[k] = string(b)
	}
	return m
}
