package pgstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
)

// hostileUserIDs are user ids Postgres text cannot hold as they are, and
// ones that look like the escaped form of another.
var hostileUserIDs = []string{
	"nul\x00inside", "\x00", "bad\xffutf8", "\xc3", "\x01", "\x01plain", "\x01" + "6e756c00696e73696465",
	"nul\x00inside\x00", "6e756c00696e73696465", "ok",
}

func TestUserIDEncoding(t *testing.T) {
	seen := map[string]string{}
	for _, u := range append(hostileUserIDs, "", "é", "a b") {
		enc := encodeUserID(u)
		if !validText(enc) {
			t.Errorf("encodeUserID(%q) = %q is not Postgres text", u, enc)
		}
		if got := decodeUserID(enc); got != u {
			t.Errorf("decodeUserID(encodeUserID(%q)) = %q", u, got)
		}
		if other, dup := seen[enc]; dup {
			t.Errorf("%q and %q are both stored as %q", u, other, enc)
		}
		seen[enc] = u
	}
}

func FuzzUserIDEncoding(f *testing.F) {
	for _, u := range hostileUserIDs {
		f.Add(u, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := encodeUserID(a), encodeUserID(b)
		if !validText(ea) || decodeUserID(ea) != a {
			t.Fatalf("%q: stored as %q, decodes to %q", a, ea, decodeUserID(ea))
		}
		if (a == b) != (ea == eb) {
			t.Fatalf("%q and %q stored as %q and %q", a, b, ea, eb)
		}
		_ = decodeUserID(b) // any stored string: no panic
	})
}

// A user id with NUL or invalid UTF-8 is hostile input, not an outage: the
// store keeps it (escaped), Load returns it as given, UserSessions and
// DeleteUser find exactly its sessions, by Create and by SetUserID.
var _ = backendTest("HostileUserIDs", func(t *testing.T, pool *pgxpool.Pool) {
	s := newStore(t, pool)
	ctx := ctxT(t)
	now := time.Now()
	ids := map[string]string{}
	for i, u := range hostileUserIDs {
		id := newID()
		ids[u] = id
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"k": []byte("v")}}
		if i%2 == 0 {
			c.UserID = u
		}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatalf("Create for user %q: %v", u, err)
		}
		if i%2 == 1 {
			if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: u}); err != nil {
				t.Fatalf("SetUserID(%q): %v", u, err)
			}
		}
	}
	for _, u := range hostileUserIDs {
		rec, err := s.Load(ctx, ids[u])
		if err != nil || rec == nil || rec.UserID != u {
			t.Errorf("Load of the session of %q: %+v, %v", u, rec, err)
		}
		infos, err := s.UserSessions(ctx, u)
		if err != nil || len(infos) != 1 || infos[0].ID != ids[u] || infos[0].UserID != u {
			t.Errorf("UserSessions(%q) = %+v, %v; want its one session", u, infos, err)
		}
	}
	for i, u := range hostileUserIDs {
		if n, err := s.DeleteUser(ctx, u); n != 1 || err != nil {
			t.Errorf("DeleteUser(%q) = %d, %v; want 1", u, n, err)
		}
		if rec, err := s.Load(ctx, ids[u]); err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != ids[u] || rec.UserID != "" {
			t.Errorf("the session of %q after its DeleteUser: %+v, %v; want ended (a tombstone to itself)", u, rec, err)
		}
		for _, v := range hostileUserIDs[i+1:] {
			if rec, _ := s.Load(ctx, ids[v]); rec == nil || rec.Moved != nil {
				t.Errorf("DeleteUser(%q) ended the session of %q", u, v)
			}
		}
	}
})

// A user id longer than the index can hold is refused with ErrTooLarge, not
// a store failure, and changes nothing; one of MaxUserIDLen bytes, the
// worst case (incompressible, escaped: twice as long stored), is kept.
var _ = backendTest("LongUserIDs", func(t *testing.T, pool *pgxpool.Pool) {
	s := newStore(t, pool)
	ctx := ctxT(t)
	now := time.Now()
	create := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	longest := "\xff" + string(randomBytes(MaxUserIDLen-1)) // invalid UTF-8: escaped
	id := newID()
	c := create
	c.UserID = longest
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatalf("Create with a user id of %d bytes: %v", len(longest), err)
	}
	if infos, err := s.UserSessions(ctx, longest); err != nil || len(infos) != 1 {
		t.Errorf("UserSessions of the longest user id: %v, %v", infos, err)
	}

	tooLong := longest + "x"
	for _, u := range []string{tooLong, string(randomBytes(3000)), strings.Repeat("a", 100_000)} {
		c.UserID = u
		if _, err := s.Commit(ctx, newID(), c); !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("Create with a user id of %d bytes: %v, want ErrTooLarge", len(u), err)
		}
	}
	before, _ := s.Load(ctx, id)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: tooLong}); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("SetUserID of %d bytes: %v, want ErrTooLarge", len(tooLong), err)
	}
	if after, _ := s.Load(ctx, id); after == nil || after.Version != before.Version || after.UserID != longest {
		t.Errorf("record after a refused SetUserID: %+v", after)
	}
	if infos, err := s.UserSessions(ctx, tooLong); err != nil || len(infos) != 0 {
		t.Errorf("UserSessions of a too long user id: %v, %v", infos, err)
	}
	if n, err := s.DeleteUser(ctx, tooLong); err != nil || n != 0 {
		t.Errorf("DeleteUser of a too long user id: %d, %v", n, err)
	}
})
