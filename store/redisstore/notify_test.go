package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// notification is a running Notify call.
type notification struct {
	events   chan store.Event
	returned chan error
	cancel   context.CancelFunc
}

func notify(t *testing.T, s *redisstore.Store) *notification {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notification{events: make(chan store.Event, 1024), returned: make(chan error, 1), cancel: cancel}
	go func() {
		n.returned <- s.Notify(ctx, func(ev store.Event) {
			select {
			case n.events <- ev:
			default:
				t.Error("event channel full")
			}
		})
	}()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop cancels Notify and returns what it returned, failing the test if it
// does not return within a second.
func (n *notification) stop(t *testing.T) error {
	t.Helper()
	n.cancel()
	select {
	case err := <-n.returned:
		n.returned <- err // for a second stop
		return err
	case <-time.After(time.Second):
		t.Fatal("Notify has not returned a second after its context was cancelled")
		return nil
	}
}

// want waits for an event matching ok, skipping others (but not Lost, unless
// it is wanted), and fails after timeout.
func (n *notification) want(t *testing.T, what string, timeout time.Duration, ok func(store.Event) bool) store.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-n.events:
			if ok(ev) {
				return ev
			}
		case err := <-n.returned:
			t.Fatalf("waiting for %s: Notify returned %v", what, err)
		case <-deadline:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

func isReset(ev store.Event) bool { return ev.Reset }
func isLost(ev store.Event) bool  { return ev.Lost }
func isID(id string) func(store.Event) bool {
	return func(ev store.Event) bool { return ev.ID == id }
}

func create(t testing.TB, s store.Store, id, user string) {
	t.Helper()
	now := time.Now()
	if _, err := s.Commit(context.Background(), id, store.Change{Mode: store.Create, UserID: user, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"a": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
}

// Reset first; an event for every commit of another node; a killed
// subscription is Lost, then Reset again; cancelling returns, leaving no
// goroutine.
func TestNotify(t *testing.T) {
	// Registered first, so it runs after every other cleanup: the servers and
	// clients are gone by then, and so must be Notify's goroutines.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	rdb := testserver.Redis(t)
	listener := newClient(t, rdb.Addr())
	writer := newClient(t, rdb.Addr()) // another node of the application
	s := redisstore.New(listener, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("n:"))
	defer s.Close()
	other := redisstore.New(writer, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("n:"))
	defer other.Close()

	n := notify(t, s)
	if ev := n.want(t, "first event", 5*time.Second, func(store.Event) bool { return true }); !ev.Reset {
		t.Fatalf("first event %+v, want Reset", ev)
	}
	id := newID()
	create(t, other, id, "")
	n.want(t, "event of another node's commit", 2*time.Second, isID(id))

	// Kill the subscription's connection: Lost, then Reset, then events.
	if err := writer.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	n.want(t, "Lost after CLIENT KILL", 2*time.Second, isLost)
	n.want(t, "Reset after resubscribing", 5*time.Second, isReset)
	id2 := newID()
	create(t, other, id2, "")
	n.want(t, "event after resubscribing", 2*time.Second, isID(id2))

	if err := n.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Notify returned %v, want context.Canceled", err)
	}
}

// A server that goes away is Lost; when it is back, Reset.
func TestNotifyServerRestart(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := newStore(t, client, redisstore.WithPolicyCheck(false))
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)
	rdb.Stop()
	n.want(t, "Lost after the server stopped", 2*time.Second, isLost)
	rdb.Start()
	n.want(t, "Reset after the server restarted", 5*time.Second, isReset)
	id := newID()
	create(t, s, id, "")
	n.want(t, "event after the restart", 2*time.Second, isID(id))
}

// A connection that goes silent without breaking (a frozen server, a
// partition) is declared Lost when a heartbeat does not come back.
func TestNotifyFrozenConnection(t *testing.T) {
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	client := newClient(t, p.Addr())
	s := newStore(t, client, redisstore.WithNotifyHeartbeat(200*time.Millisecond))
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)
	p.Freeze()
	start := time.Now()
	n.want(t, "Lost while frozen", 2*time.Second, isLost)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Lost after %v, sooner than one heartbeat interval", d)
	}
	p.Thaw()
	n.want(t, "Reset after thawing", 5*time.Second, isReset)
	n.stop(t)
}

// Closing the store ends Notify with ErrClosed.
func TestNotifyClose(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false))
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)
	s.Close()
	select {
	case err := <-n.returned:
		if !errors.Is(err, redisstore.ErrClosed) {
			t.Errorf("Notify returned %v after Close, want ErrClosed", err)
		}
		n.returned <- err
	case <-time.After(time.Second):
		t.Fatal("Notify has not returned a second after Close")
	}
}

// In a Cluster, commits on every master reach a subscriber on any node.
func testNotifyCluster(t *testing.T, client *redis.ClusterClient) {
	s := newStore(t, client, redisstore.WithPrefix("nc:"))
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)
	masters := map[string]bool{}
	for i := 0; len(masters) < 3; i++ {
		if i == 100 {
			t.Fatalf("100 sessions landed on %d masters only", len(masters))
		}
		id := newID()
		node, err := client.MasterForKey(t.Context(), "nc:s:"+id)
		if err != nil {
			t.Fatal(err)
		}
		if masters[node.Options().Addr] {
			continue
		}
		masters[node.Options().Addr] = true
		create(t, s, id, "")
		n.want(t, "event of a commit on "+node.Options().Addr, 2*time.Second, isID(id))
	}
}

// In a Cluster the subscription's heartbeat goes through every master: each
// master forwards the publications of its own writes over its own links to
// the other nodes, so a heartbeat through one master (go-redis sends a
// PUBLISH to a random one) vouches for one master's link at a time, and a
// broken link from another goes unnoticed until the draw picks it. A second
// subscriber on the heartbeat channels sees each heartbeat come from every
// master.
func testHeartbeatEveryMaster(t *testing.T, client *redis.ClusterClient) {
	ctx := t.Context()
	masters := 0
	var mu sync.Mutex
	if err := client.ForEachMaster(ctx, func(context.Context, *redis.Client) error {
		mu.Lock()
		masters++
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	watch := client.PSubscribe(ctx, "hb:invalidate:heartbeat:*")
	defer watch.Close()
	if _, err := watch.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, client, redisstore.WithPrefix("hb:"), redisstore.WithNotifyHeartbeat(50*time.Millisecond))
	n := notify(t, s)
	n.want(t, "Reset", 5*time.Second, isReset)

	from := map[string]map[string]bool{} // heartbeat sequence -> payloads
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		msg, err := watch.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue
		}
		seq, _, _ := strings.Cut(m.Payload, "@")
		if from[seq] == nil {
			from[seq] = map[string]bool{}
		}
		from[seq][m.Payload] = true
		if len(from[seq]) == masters && len(from) >= 3 {
			return
		}
	}
	most := 0
	for _, p := range from {
		most = max(most, len(p))
	}
	t.Errorf("no heartbeat came through all %d masters in 5 s: %d heartbeats, each through at most %d", masters, len(from), most)
}

// With WithNotify(false) writes publish nothing and Notify says it cannot.
// The absence shows by order: publications on one server arrive in order, so
// a publication of the quiet store's writes would come before the marker.
func TestNotifyOff(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	quiet := redisstore.New(client, redisstore.WithPrefix("q:"), redisstore.WithNotify(false), redisstore.WithPolicyCheck(false))
	defer quiet.Close()
	loud := redisstore.New(client, redisstore.WithPrefix("q:"), redisstore.WithPolicyCheck(false))
	defer loud.Close()
	if err := quiet.Notify(t.Context(), func(store.Event) { t.Error("Notify called fn") }); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Notify with notifications off: %v, want store.ErrUnsupported", err)
	}
	n := notify(t, loud)
	n.want(t, "Reset", 5*time.Second, isReset)

	ctx := t.Context()
	id := newID()
	create(t, quiet, id, "quiet-user")
	if _, err := quiet.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"b": nil}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := quiet.Touch(ctx, id, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := quiet.Move(ctx, id, store.Moved{To: newID()}, now.Add(time.Hour), versionOf(t, quiet, id)); err != nil {
		t.Fatal(err)
	}
	if err := quiet.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	create(t, quiet, newID(), "quiet-user")
	if n, err := quiet.DeleteUser(ctx, "quiet-user"); n != 1 || err != nil {
		t.Fatalf("DeleteUser = %d, %v", n, err)
	}
	marker := newID()
	create(t, loud, marker, "")
	if ev := n.want(t, "an event", 2*time.Second, func(ev store.Event) bool { return ev.ID != "" }); ev.ID != marker {
		t.Errorf("first event is for %.8s…, want the marker: a quiet write published", ev.ID)
	}
}

// A Ring's shards do not share publications: Notify says it cannot.
func TestNotifyRing(t *testing.T) {
	rdb := testserver.Redis(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": rdb.Addr()}, ContextTimeoutEnabled: true})
	defer ring.Close()
	s := redisstore.New(ring, redisstore.WithPolicyCheck(false))
	defer s.Close()
	if err := s.Notify(t.Context(), func(store.Event) { t.Error("Notify called fn") }); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Notify on a Ring: %v, want store.ErrUnsupported", err)
	}
}
