package hybridstore_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// A node keeps serving a session it writes from memory, attributes included:
// a create and an update that sets them, and one that keeps them, leave the
// local entry exactly the remote's record, without a reload, and never share
// the caller's map. Touch and Move evict, and what comes back (a record, a
// tombstone) is the remote's. UserSessions lists them from the remote.
func TestWriteThroughAttrs(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			h, r := e.node(t, mode)
			ctx := context.Background()
			e.warm(t, h, "a", "1") // the node learns the remote's precision
			loads := r.loads.Load()
			same := func(what, id string, want map[string]string) {
				t.Helper()
				e.bus.settle(t)
				got := load(t, h, id)
				remote, _ := e.mem.Load(ctx, id)
				wantSame(t, what, got, remote)
				if !maps.Equal(got.Attrs, want) {
					t.Errorf("%s: local attributes %q, want %q", what, got.Attrs, want)
				}
			}

			id, now := newID(), e.clock.Now()
			attrs := map[string]string{"device": "laptop", "$where": "x", "": "empty key"}
			c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
				UserID: "alice", Set: vals("k", "v"), SetAttrs: true, Attrs: attrs}
			if _, err := h.Commit(ctx, id, c); err != nil {
				t.Fatal(err)
			}
			attrs["device"] = "changed by the caller after Commit"
			same("after Create", id, map[string]string{"device": "laptop", "$where": "x", "": "empty key"})

			set(t, h, id, "k", "v2")
			same("after an Update that keeps the attributes", id, map[string]string{"device": "laptop", "$where": "x", "": "empty key"})

			attrs = map[string]string{"device": "phone"}
			if _, err := h.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs}); err != nil {
				t.Fatal(err)
			}
			attrs["device"] = "changed by the caller after Commit"
			same("after an Update that replaces the attributes", id, map[string]string{"device": "phone"})

			if _, err := h.Commit(ctx, id, store.Change{Mode: store.Update, Clear: true, SetAttrs: true}); err != nil {
				t.Fatal(err)
			}
			same("after an Update that removes the attributes", id, nil)
			if n := r.loads.Load() - loads; n != 0 {
				t.Errorf("reads after writes through the node made %d remote loads, want 0", n)
			}

			if _, err := h.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: map[string]string{"ua": "curl"}}); err != nil {
				t.Fatal(err)
			}
			if err := h.Touch(ctx, id, e.clock.Now(), e.clock.Now().Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			same("after a Touch", id, map[string]string{"ua": "curl"})
			infos, err := h.UserSessions(ctx, "alice")
			if err != nil || len(infos) != 1 || !maps.Equal(infos[0].Attrs, map[string]string{"ua": "curl"}) {
				t.Errorf("UserSessions = %+v, %v; want the session with its attributes", infos, err)
			}

			rec := load(t, h, id)
			if err := h.Move(ctx, id, store.Moved{To: newID()}, e.clock.Now().Add(time.Minute), rec.Version); err != nil {
				t.Fatal(err)
			}
			same("a tombstone", id, nil)
		})
	}
}
