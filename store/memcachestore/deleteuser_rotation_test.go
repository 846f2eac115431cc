package memcachestore_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// hooker runs fn once, just before the connection sends the first get
// command that names match: between a store call's read of a user index
// and its read of the records the index names.
type hooker struct {
	mu    sync.Mutex
	match []byte
	fn    func()
}

func (h *hooker) arm(match string, fn func()) {
	h.mu.Lock()
	h.match, h.fn = []byte(match), fn
	h.mu.Unlock()
}

func (h *hooker) onWrite(p []byte) {
	h.mu.Lock()
	fn := h.fn
	if fn == nil || !bytes.HasPrefix(p, []byte("get")) || !bytes.Contains(p, h.match) {
		h.mu.Unlock()
		return
	}
	h.match, h.fn = nil, nil
	h.mu.Unlock()
	fn()
}

type hookConn struct {
	net.Conn
	h *hooker
}

func (c hookConn) Write(p []byte) (int, error) {
	c.h.onWrite(p)
	return c.Conn.Write(p)
}

// The store contract (store.Store.DeleteUser): once DeleteUser has returned
// and a UserSessions lists nothing, no session the user had when DeleteUser
// began may be live; session.Manager.DestroyUser relies on it. A device
// rotates (create the new record, move the old one to it) between
// DeleteUser's read of the index and of the records, and again between
// UserSessions' two reads. Before DeleteUser followed tombstones, both
// missed it: DeleteUser found the old record moved and the new one was not
// in the index it read; the listing found that one moved too. Now DeleteUser
// ends the new record, so the second rotation's Move fails and the device
// is logged out.
func TestDeleteUserThenEmptyListingEndsRotatingDevice(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "2m"))
	pfx := prefix()
	direct := memcachestore.New(memcachedClient(t, srv.Addr()), memcachestore.WithKeyPrefix(pfx))
	h := &hooker{}
	hc := memcachedClient(t, srv.Addr())
	hc.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return hookConn{c, h}, nil
	}
	hooked := memcachestore.New(hc, memcachestore.WithKeyPrefix(pfx))

	ctx := t.Context()
	now := time.Now()
	create := func(id string) {
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: "ann", SetUserID: true}
		if _, err := direct.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	rotate := func(from, to string) func() {
		return func() {
			create(to)
			if err := direct.Move(ctx, from, store.Moved{To: to}, now.Add(time.Minute), 0); err != nil {
				// The session ended under the rotation: the session
				// layer deletes the new record, never handed out.
				if err := direct.Delete(ctx, to); err != nil {
					t.Error(err)
				}
			}
		}
	}
	create("phone-1")

	h.arm("s:phone-1", rotate("phone-1", "phone-2"))
	if _, err := hooked.DeleteUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	h.arm("s:phone-2", rotate("phone-2", "phone-3"))
	infos, err := hooked.UserSessions(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) > 0 {
		return // listed: DestroyUser would make another pass
	}
	if rec, err := direct.Load(ctx, "phone-3"); err != nil || (rec != nil && rec.Moved == nil && rec.UserID == "ann") {
		t.Errorf("after DeleteUser and an empty UserSessions, the device is still logged in as ann under phone-3 (%v)", err)
	}
}
