package redisstore_test

// Review of the string layout (commits 90776d4, 1fb9a12): attacks on the
// scripts, the legacy hash path and the Go decoders.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// beforeCmd runs fn (once) just before the client sends the first command
// named name (or a pipeline holding one): a concurrent writer landing
// between two commands of one store call.
type beforeCmd struct {
	name string
	fn   func()
	done atomic.Bool
}

func (h *beforeCmd) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *beforeCmd) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == h.name && h.done.CompareAndSwap(false, true) {
			h.fn()
		}
		return next(ctx, cmd)
	}
}

func (h *beforeCmd) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == h.name && h.done.CompareAndSwap(false, true) {
				h.fn()
				break
			}
		}
		return next(ctx, cmds)
	}
}

// A read of a hash of the previous layout is two commands (GET, which
// answers WRONGTYPE, then HGETALL / HGET / HMGET). The first write to the
// session turns the hash into a string; when it lands between the two (two
// concurrent requests of one browser during the rollout: one loads, the
// other touches), the second command answers WRONGTYPE too, and the read
// fails: a 503 for a live session, which the doc promises "every method
// still reads".
func TestHashReadRacesConversion(t *testing.T) {
	addr := testserver.Redis(t).Addr()
	ctx := t.Context()
	for _, tc := range []struct {
		name, cmd string
		read      func(s *redisstore.Store, id string) error
	}{
		{"Load", "hgetall", func(s *redisstore.Store, id string) error {
			rec, err := s.Load(ctx, id)
			if err == nil && (rec == nil || rec.UserID != "alice") {
				return fmt.Errorf("loaded %+v", rec)
			}
			return err
		}},
		{"Version", "hget", func(s *redisstore.Store, id string) error {
			v, err := s.Version(ctx, id)
			if err == nil && v < 4 {
				return fmt.Errorf("version %d", v)
			}
			return err
		}},
		{"UserSessions", "hmget", func(s *redisstore.Store, id string) error {
			infos, err := s.UserSessions(ctx, "alice")
			if err == nil && (len(infos) != 1 || infos[0].ID != id) {
				return fmt.Errorf("listed %+v", infos)
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writer := newClient(t, addr)
			e := &legacyEnv{t: t, client: writer, s: newStore(t, writer, redisstore.WithPrefix("tether:")),
				now: time.UnixMilli(time.Now().UnixMilli())}
			id := newID()
			e.hash(id, "alice", map[string]string{"k": "v"}, "")
			writer.Del(ctx, "tether:u:alice")
			writer.ZAdd(ctx, "tether:u:alice", redis.Z{Score: float64(e.now.UnixMilli()), Member: id})

			reader := newClient(t, addr)
			s := newStore(t, reader, redisstore.WithPrefix("tether:"))
			reader.AddHook(&beforeCmd{name: tc.cmd, fn: func() {
				// Another request's touch lands now.
				if err := e.s.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour)); err != nil {
					t.Errorf("touch: %v", err)
				}
			}})
			if err := tc.read(s, id); err != nil {
				t.Errorf("%s of a hash converted by a concurrent touch: %v; want the session", tc.name, err)
			}
		})
	}
}

// model is what a session's values should be.
type model map[string]string

func (m model) size() int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// hostile keys and values: empty, prefixes of each other, bytes 0x00, 0x80,
// 0xff, lengths around the uvarint boundaries.
func hostileStrings(r *rand.Rand) []string {
	out := []string{"", "a", "ab", "abc", "\x00", "\x00\x00", "\x80", "\xff", "\xff\xff\x80\x00", "v:", "m:v", "m:to"}
	for _, n := range []int{126, 127, 128, 129, 255, 256, 16383, 16384, 16385} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		out = append(out, string(b))
		out = append(out, strings.Repeat("a", n))
	}
	return out
}

// A model-based run of random commits (sets, deletes, clears, attributes,
// user changes) with hostile keys and values, against a session that starts
// as a string or as a hash of the previous layout: after every commit the
// loaded session equals the model, and the size limit refuses exactly the
// commits that would pass it, reporting the exact size, writing nothing.
func TestCommitModel(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			const limit = 40000
			client := newClient(t, testserver.Redis(t).Addr())
			s := newStore(t, client, redisstore.WithPrefix("tether:"), redisstore.WithMaxRecordSize(limit))
			e := &legacyEnv{t: t, client: client, s: s, now: time.UnixMilli(time.Now().UnixMilli())}
			ctx := t.Context()
			r := rand.New(rand.NewPCG(1, uint64(len(fmt.Sprint(legacy)))))
			strs := hostileStrings(r)
			for round := range 6 {
				id := newID()
				m := model{"k": "v", "": "empty"}
				user, attrs := "alice", map[string]string(nil)
				if legacy {
					e.hash(id, user, m, "")
				} else {
					now := time.Now()
					if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: user, Created: now, LastSeen: now,
						Expires: now.Add(time.Hour), Set: map[string][]byte{"k": []byte("v"), "": []byte("empty")}}); err != nil {
						t.Fatal(err)
					}
				}
				prev, err := s.Load(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				for step := range 60 {
					c := store.Change{Mode: store.Update, Set: map[string][]byte{}}
					next := maps.Clone(m)
					if r.IntN(8) == 0 {
						c.Clear = true
						clear(next)
					}
					for range r.IntN(4) {
						k := strs[r.IntN(len(strs))]
						c.Delete = append(c.Delete, k)
						if !c.Clear {
							delete(next, k)
						}
					}
					for range r.IntN(4) {
						k, v := strs[r.IntN(len(strs))], strs[r.IntN(len(strs))]
						if r.IntN(3) == 0 {
							v = ""
						}
						c.Set[k] = []byte(v)
						next[k] = v
					}
					nattrs := attrs
					if r.IntN(5) == 0 {
						c.SetAttrs = true
						if r.IntN(2) == 0 {
							c.Attrs = map[string]string{"ip": strs[r.IntN(len(strs))], strs[r.IntN(len(strs))]: "x"}
						}
						nattrs = c.Attrs
						if len(nattrs) == 0 {
							nattrs = nil
						}
					}
					nuser := user
					if r.IntN(6) == 0 {
						c.SetUserID = true
						c.UserID = []string{"", "alice", "bob"}[r.IntN(3)]
						nuser = c.UserID
					}
					want := next.size() + len(nuser)
					for k, v := range nattrs {
						want += len(k) + len(v)
					}
					_, err := s.Commit(ctx, id, c)
					got, lerr := s.Load(ctx, id)
					if lerr != nil {
						t.Fatalf("round %d step %d: load: %v", round, step, lerr)
					}
					var tl *store.TooLargeError
					if want > limit {
						if !errors.As(err, &tl) {
							t.Fatalf("round %d step %d: commit of a %d-byte record: %v; want TooLargeError", round, step, want, err)
						}
						// The pre-check in Go reports the change's own size.
						if tl.Size != want && !(tl.Size < want && tl.Size > limit) {
							t.Errorf("round %d step %d: TooLargeError size %d, want %d", round, step, tl.Size, want)
						}
						if got.Version != prev.Version || !maps.Equal(stringsOf(got.Values), m) {
							t.Fatalf("round %d step %d: a refused commit wrote: version %d->%d", round, step, prev.Version, got.Version)
						}
						continue
					}
					if err != nil {
						t.Fatalf("round %d step %d: commit of a %d-byte record: %v", round, step, want, err)
					}
					if gv := stringsOf(got.Values); !maps.Equal(gv, next) {
						t.Fatalf("round %d step %d: values %d keys, want %d (%v)", round, step, len(gv), len(next), diffKeys(gv, next))
					}
					if got.Version <= prev.Version || got.UserID != nuser || !maps.Equal(got.Attrs, nattrs) ||
						!got.Created.Equal(prev.Created) || !got.Expires.Equal(prev.Expires) {
						t.Fatalf("round %d step %d: got %+v after %+v", round, step, got, prev)
					}
					m, user, attrs, prev = next, nuser, nattrs, got
				}
			}
		})
	}
}

func diffKeys(a, b model) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			d = append(d, fmt.Sprintf("got %.10q=%.10q", k, v))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("missing %.10q", k))
		}
	}
	slices.Sort(d)
	return strings.Join(d, ", ")
}

// Thousands of keys in one commit (thousands of ARGV), deletes of absent
// keys, and values near the 1 MiB limit.
func TestLargeCommits(t *testing.T) {
	client := newClient(t, testserver.Redis(t).Addr())
	s := newStore(t, client)
	ctx := t.Context()
	now := time.Now()
	id := newID()
	set := map[string][]byte{}
	for i := range 20000 {
		set[fmt.Sprint("k", i)] = []byte{byte(i), 0x80, 0xff, 0}
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: set}); err != nil {
		t.Fatal(err)
	}
	var del []string
	for i := range 20000 {
		del = append(del, fmt.Sprint("k", i*2), fmt.Sprint("absent", i))
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Delete: del}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec.Values.Len() != 10000 {
		t.Fatalf("after deleting half: %v, %v", rec.Values.Len(), err)
	}
	// One byte under, at and over the limit.
	limit := store.DefaultMaxRecordSize
	id2 := newID()
	if _, err := s.Commit(ctx, id2, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: "u",
		Set: map[string][]byte{"a": bytes.Repeat([]byte{0xff}, limit-3)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, id2, store.Change{Mode: store.Update, Set: map[string][]byte{"b": nil}}); err != nil {
		t.Fatalf("to exactly the limit: %v", err)
	}
	_, err = s.Commit(ctx, id2, store.Change{Mode: store.Update, Set: map[string][]byte{"c": nil}})
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Size != limit+1 {
		t.Fatalf("one byte over: %v", err)
	}
	rec, err = s.Load(ctx, id2)
	if err != nil || rec.Values.Len() != 2 || len(rec.Values.Get("a")) != limit-3 {
		t.Fatalf("after: %v", err)
	}
}

// Under volatile-lfu, a login is boosted by DUMP and RESTORE with the TTL
// PTTL read before the DUMP. RESTORE adds its own clock to that TTL after
// it checked and decoded the payload, so the key's expiry moves past the
// one the commit set (SET ... PXAT) and the header records by the time
// DUMP and RESTORE took: milliseconds for a large session. The previous
// layout set PEXPIREAT after the RESTORE, so the expiry stayed exact; a
// session that outlives its Expires is served by every reader ("a key that
// exists is live").
func TestLFUBoostKeepsExactExpiry(t *testing.T) {
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory", "200mb", "--maxmemory-policy", "volatile-lfu"))
	client := newClient(t, rdb.Addr())
	ctx := t.Context()
	var log syncBuffer
	s := newStore(t, client, redisstore.WithPrefix("lfu:"), redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	waitLog(t, &log, "checked maxmemory-policy")
	big := bytes.Repeat([]byte{0xab, 0x01}, 450_000)
	drifted := 0
	for range 10 {
		id := newID()
		now := time.Now()
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			Set: map[string][]byte{"k": big}}); err != nil {
			t.Fatal(err)
		}
		exp := time.UnixMilli(now.Add(2 * time.Hour).UnixMilli())
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: "alice", Expires: exp}); err != nil {
			t.Fatal(err)
		}
		f, _ := client.ObjectFreq(ctx, "lfu:s:"+id).Result()
		// OBJECT FREQ applies LFU decay: one step per lfu-decay-time (a
		// minute) of Redis's minute clock since the RESTORE. A minute
		// boundary between the login and the read takes one step off.
		if want := int64(255); f != want && !(f == want-1 && crossesMinute(now, time.Now())) {
			t.Fatalf("OBJECT FREQ %d after a login, want %d (no boost)", f, want)
		}
		got, err := client.PExpireTime(ctx, "lfu:s:"+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := s.Load(ctx, id)
		if got.Milliseconds() != exp.UnixMilli() || !rec.Expires.Equal(exp) {
			drifted++
			t.Logf("PEXPIRETIME %d, header %d, want %d (+%d ms)", got.Milliseconds(), rec.Expires.UnixMilli(), exp.UnixMilli(), got.Milliseconds()-exp.UnixMilli())
		}
	}
	if drifted > 0 {
		t.Errorf("%d of 10 boosted logins left the key expiring after the record's Expires", drifted)
	}
}

// Every write to a hash of the previous layout whose reply is lost: go-redis
// resends it, and the second run meets the string the first run made of
// the hash. Each must end as if it had run once (Move and DeleteUser
// recognise their own tombstones, a logout still leaves no entry behind
// that DeleteUser would miss).
func TestLegacyLostReplies(t *testing.T) {
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	client := newClient(t, p.Addr())
	direct := newClient(t, rdb.Addr())
	e := &legacyEnv{t: t, client: direct, s: newStore(t, client, redisstore.WithPrefix("tether:")), now: time.UnixMilli(time.Now().UnixMilli())}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Load the scripts first: a lost NOSCRIPT reply proves nothing.
	warm := newID()
	e.hash(warm, "", map[string]string{"k": "v"}, "")
	e.s.Touch(ctx, warm, time.Now(), time.Now().Add(time.Hour))
	e.s.Commit(ctx, warm, store.Change{Mode: store.Update, Set: map[string][]byte{"a": nil}})
	e.s.Move(ctx, warm, store.Moved{To: newID()}, time.Now().Add(time.Minute), 0)
	e.hash(newID(), "warm", map[string]string{"k": "v"}, "")
	e.s.DeleteUser(ctx, "warm")

	// Move.
	id, to := newID(), newID()
	e.hash(id, "alice", map[string]string{"k": "v"}, "")
	p.LoseReplyTo(to)
	lost := p.Lost()
	if err := e.s.Move(ctx, id, store.Moved{To: to, Sealed: []byte("s")}, time.Now().Add(time.Minute), 4); err != nil || p.Lost() != lost+1 {
		t.Errorf("Move of a hash with a lost reply: %v (lost %d)", err, p.Lost()-lost)
	}
	if rec, _ := e.s.Load(ctx, id); rec == nil || rec.Moved == nil || rec.Moved.To != to {
		t.Errorf("after: %+v", rec)
	}

	// DeleteUser (the marker is in the user id).
	user := "bob-" + randHex(6)
	id2 := newID()
	e.hash(id2, user, map[string]string{"k": "v"}, "")
	p.LoseReplyTo(user)
	lost = p.Lost()
	if n, err := e.s.DeleteUser(ctx, user); n != 1 || err != nil || p.Lost() != lost+1 {
		t.Errorf("DeleteUser of a hash with a lost reply: %d, %v (lost %d)", n, err, p.Lost()-lost)
	}
	if rec, _ := e.s.Load(ctx, id2); rec == nil || rec.Moved == nil || rec.Moved.To != id2 {
		t.Errorf("after: %+v", rec)
	}

	// A commit giving a hash session to another user.
	id3, carol := newID(), "carol-"+randHex(6)
	e.hash(id3, "alice", map[string]string{"k": "v"}, "")
	p.LoseReplyTo(carol)
	lost = p.Lost()
	if _, err := e.s.Commit(ctx, id3, store.Change{Mode: store.Update, SetUserID: true, UserID: carol}); err != nil || p.Lost() != lost+1 {
		t.Errorf("a login over a hash with a lost reply: %v (lost %d)", err, p.Lost()-lost)
	}
	if infos, err := e.s.UserSessions(ctx, carol); err != nil || len(infos) != 1 {
		t.Errorf("carol's sessions: %+v, %v", infos, err)
	}
	if n, err := e.s.DeleteUser(ctx, carol); n != 1 || err != nil {
		t.Errorf("DeleteUser(carol) = %d, %v", n, err)
	}
}

// A full server (noeviction) must still let rotations, logouts and
// DeleteUser end sessions that are still hashes of the previous layout.
func TestNoevictionFullLegacy(t *testing.T) {
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", "noeviction"))
	client := newClient(t, rdb.Addr())
	ctx := t.Context()
	e := &legacyEnv{t: t, client: client, s: newStore(t, client, redisstore.WithPrefix("tether:")), now: time.UnixMilli(time.Now().UnixMilli())}
	var ids []string
	for range 300 {
		id := newID()
		e.hash(id, "alice", map[string]string{"v": strings.Repeat("x", 1024)}, "")
		ids = append(ids, id)
	}
	used := infoInt(t, client.Info(ctx, "memory").Val(), "used_memory")
	if err := client.ConfigSet(ctx, "maxmemory", fmt.Sprint(used-256<<10)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Touch(ctx, ids[0], time.Now(), time.Now().Add(time.Hour)); err == nil {
		t.Error("a touch of a hash on a full server succeeded (the server is not full?)")
	}
	if err := e.s.Move(ctx, ids[1], store.Moved{To: newID()}, time.Now().Add(time.Minute), 0); err != nil {
		t.Errorf("rotation of a hash on a full server: %v", err)
	}
	if err := e.s.Delete(ctx, ids[2]); err != nil {
		t.Errorf("delete of a hash on a full server: %v", err)
	}
	if n, err := e.s.DeleteUser(ctx, "alice"); err != nil || n != len(ids)-2 {
		t.Errorf("DeleteUser of hashes on a full server: %d, %v; want %d", n, err, len(ids)-2)
	}
}

// Times through the scripts: pre-1970, the zero time, an expiry in the past.
func TestTimes(t *testing.T) {
	client := newClient(t, testserver.Redis(t).Addr())
	s := newStore(t, client)
	ctx := t.Context()
	now := time.UnixMilli(time.Now().UnixMilli())
	id := newID()
	old := time.UnixMilli(-86_400_000_123)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "u", Created: old, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || !rec.Created.Equal(old) || !rec.LastSeen.IsZero() || !rec.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("%+v, %v", rec, err)
	}
	if err := s.Touch(ctx, id, time.Time{}, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec, err = s.Load(ctx, id)
	if err != nil || !rec.Created.Equal(old) || !rec.LastSeen.IsZero() || !rec.Expires.Equal(now.Add(2*time.Hour)) || rec.Version <= 1 {
		t.Fatalf("after touch: %+v, %v", rec, err)
	}
	if infos, err := s.UserSessions(ctx, "u"); err != nil || len(infos) != 1 || !infos[0].Created.Equal(old) || !infos[0].LastSeen.IsZero() {
		t.Fatalf("UserSessions: %+v, %v", infos, err)
	}
	// LiveAt after the expiry: refused as missing, nothing written.
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, LiveAt: now.Add(3 * time.Hour), Set: map[string][]byte{"a": nil}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LiveAt past the expiry: %v", err)
	}
	// An expiry before 1970: gone.
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Expires: old}); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Load(ctx, id); rec != nil || err != nil {
		t.Fatalf("after an expiry before 1970: %+v, %v", rec, err)
	}
}

// A session string whose attributes' length runs past its end (written by
// something else, or a bug) is a session the scripts still read as the
// user's (they read the user id and never the attributes), but UserSessions
// does not parse it: it is neither listed (the old layout listed a session
// with corrupt attributes, "so that it can be ended") nor kept in the index,
// whose entry UserSessions then prunes as a dead one. DeleteUser, which
// reads the index, no longer finds it: "log out everywhere" misses a session
// that every script treats as the user's.
func TestUnparsableSessionLeavesTheIndex(t *testing.T) {
	e := newAttrsEnv(t, testserver.Redis(t).Addr())
	ctx := t.Context()
	id, user := newID(), "u-"+randHex(4)
	e.create(id, user, map[string]string{"device": "laptop"})
	raw := e.raw(id)
	bad := raw[:41] + string([]byte{byte(len(user))}) + user + "\x7fab"
	if err := e.client.Set(ctx, e.prefix+"s:"+id, bad, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	// The entry is older than the grace period.
	old := float64(time.Now().Add(-2 * time.Minute).UnixMilli())
	e.client.ZAdd(ctx, e.prefix+"u:"+user, redis.Z{Score: old, Member: id})
	infos, err := e.s.UserSessions(ctx, user)
	if err != nil || len(infos) != 1 {
		t.Errorf("UserSessions = %+v, %v; want the session listed (without attributes)", infos, err)
	}
	if n, err := e.s.DeleteUser(ctx, user); n != 1 || err != nil {
		t.Errorf("DeleteUser = %d, %v; want 1: the session is the user's for every script", n, err)
	}
	rec, _ := e.client.Get(ctx, e.prefix+"s:"+id).Result()
	if len(rec) > 0 && rec[0] == 'r' {
		t.Errorf("the session survived DeleteUser (touches of it still succeed: %v)",
			e.s.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour)))
	}
}

// Delete needs nothing of the session but its user and score, for the
// index: a session string the store cannot read (too short, an unknown
// kind) must still be deletable, as any hash was before (the old script
// read two fields with HMGET, which never fails on a hash). Now the script
// fails in get's check, and a logout of that session fails for as long as
// the key lives.
func TestDeleteOfAnUnreadableString(t *testing.T) {
	client := newClient(t, testserver.Redis(t).Addr())
	s := newStore(t, client)
	ctx := t.Context()
	for _, junk := range []string{"short", "x" + strings.Repeat("\x00", 60)} {
		id := newID()
		key := s.KeyPrefix() + "s:" + id
		client.Set(ctx, key, junk, time.Hour)
		if rec, err := s.Load(ctx, id); !errors.Is(err, redisstore.ErrCorrupt) {
			t.Errorf("%q: Load = %+v, %v; want ErrCorrupt", junk, rec, err)
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Errorf("%q: Delete = %v; want the key deleted", junk, err)
		}
		if n, _ := client.Exists(ctx, key).Result(); n != 0 {
			t.Errorf("%q: the key survived Delete", junk)
		}
	}
}

// crossesMinute reports whether a minute of the Unix clock began between from
// and to, with a second of slack either side for Redis's cached clock.
func crossesMinute(from, to time.Time) bool {
	return from.Add(-time.Second).Unix()/60 != to.Add(time.Second).Unix()/60
}
