package redisstore_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// splitHook runs the first metas pipeline (all GETRANGE) of UserSessions in
// two parts, with mid in between: as a Cluster runs a pipeline, one node's
// part after another's.
type splitHook struct{ mid func() }

func (h *splitHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, n, a string) (net.Conn, error) { return next(ctx, n, a) }
}
func (h *splitHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *splitHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.mid == nil || len(cmds) < 2 {
			return next(ctx, cmds)
		}
		for _, c := range cmds {
			if !strings.EqualFold(c.Name(), "getrange") {
				return next(ctx, cmds)
			}
		}
		mid := h.mid
		h.mid = nil
		err1 := next(ctx, cmds[:1])
		mid()
		err2 := next(ctx, cmds[1:])
		if err1 != nil {
			return err1
		}
		return err2
	}
}

// A device rotates P → N while UserSessions reads: N's index entry was
// added (the commit indexes before it writes) before the ZRANGE, so the
// listing reads N, finds nothing, then reads P, now a tombstone forwarding
// to N. check marks every indexed ID seen, so the forward to N is never
// followed: the listing is empty, with no error, and N is live. "Log out
// everywhere" stops at that empty listing.
func TestForwardToIndexedButUnwrittenEntryIsFollowed(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	hook := &splitHook{}
	client.AddHook(hook)
	other := newClient(t, rdb.Addr())
	const pfx = "r3fwd:"
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix(pfx))
	defer s.Close()
	s2 := redisstore.New(other, redisstore.WithPolicyCheck(false), redisstore.WithPrefix(pfx))
	defer s2.Close()
	ctx := t.Context()
	now := time.Now()
	change := store.Change{Mode: store.Create, UserID: "fay", SetUserID: true, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	p := newID()
	if _, err := s2.Commit(ctx, p, change); err != nil {
		t.Fatal(err)
	}
	n := newID()
	for n >= p { // N sorts before P at an equal score (indexed in the same millisecond)
		n = newID()
	}
	sc, err := other.ZScore(ctx, pfx+"u:fay", p).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The rotation's commit of N has indexed it, and not yet written it.
	other.ZAdd(ctx, pfx+"u:fay", redis.Z{Score: sc, Member: n})
	hook.mid = func() {
		// N's read is done (nothing there); the rotation completes.
		if _, err := s2.Commit(ctx, n, change); err != nil {
			t.Error(err)
		}
		if err := s2.Move(ctx, p, store.Moved{To: n}, now.Add(time.Minute), 0); err != nil {
			t.Error(err)
		}
	}
	infos, err := s.UserSessions(ctx, "fay")
	if hook.mid != nil {
		t.Fatal("the hook did not run")
	}
	if err != nil {
		t.Logf("UserSessions failed (acceptable): %v", err)
		return
	}
	for _, in := range infos {
		if in.ID == n {
			return
		}
	}
	rec, _ := s2.Load(ctx, n)
	t.Fatalf("UserSessions = %d sessions, nil error; the live session N (live: %v) is missing", len(infos), rec != nil && rec.Moved == nil)
}
