package mongostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connect returns a client of uri, disconnected when the test ends. Its
// pool has one connection: FerretDB's writes are atomic only one command at
// a time (see startFerret).
func connect(tb testing.TB, uri string) *mongo.Client {
	tb.Helper()
	cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetMaxPoolSize(1).SetServerSelectionTimeout(selectTimeout))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cl.Disconnect(context.Background()) })
	return cl
}

// newStore returns a store on a collection of its own, closed when the test
// ends.
func newStore(tb testing.TB, cl *mongo.Client, opts ...Option) *Store {
	tb.Helper()
	opts = append([]Option{WithTimeout(testTimeout)}, opts...)
	s, err := New(context.Background(), cl.Database("tether").Collection("sessions_"+randHex(6)), opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// testTimeout replaces the store's default timeout in the tests: FerretDB
// takes about half a second for any command on a record near the 1 MiB
// limit on a loaded 2-core machine (its SQLite backend keeps each document
// as JSON, binary as base64, and decodes the whole document for every
// command, projections included), and the serialiser queues every other
// command behind it. The conformance suite's 64 concurrent writers of one
// key queue their optimistic attempts behind that one connection too: under
// the race detector one of their calls has taken 19 s.
const testTimeout = 60 * time.Second

// selectTimeout bounds the driver's wait for a reachable server.
const selectTimeout = 20 * time.Second

// smallRecords are the options of the suite's runs: a per-record limit of
// 128 KiB instead of 1 MiB, so that the large-record subtests cost FerretDB
// an eighth. DefaultLimit checks the default limit itself.
func smallRecords() ([]Option, []storetest.Option) {
	return []Option{WithMaxRecordSize(128 << 10)},
		[]storetest.Option{storetest.WithMaxRecordSize(128 << 10), storetest.WithMaxValueSize(32 << 10)}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newID() string { return randHex(32) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createRecord creates a record with one value, live for an hour after now.
func createRecord(t *testing.T, s store.Store, now time.Time) (string, *store.Record) {
	t.Helper()
	id := newID()
	_, err := s.Commit(ctxT(t), id, store.Change{Mode: store.Create, Created: now, LastSeen: now,
		Expires: now.Add(time.Hour), Set: map[string][]byte{"k": []byte("v")}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	rec, err := s.Load(ctxT(t), id)
	if err != nil || rec == nil {
		t.Fatalf("load after create: %v, %v", rec, err)
	}
	return id, rec
}

// Every subtest of the suite gets a collection of its own: FerretDB's
// SQLite backend uses an index only for a filter that is exactly {_id: …},
// and scans the whole collection, decoding every document, for any other
// (the store's filters all carry an expiry condition too). One shared
// collection of the suite's large records made each command take seconds.
//
// TestFerretDB runs everything that needs a healthy server: the conformance
// suite, with the real clock and with a fake one, and the backend's own tests
// (the hybrid tier's conformance among them). The three parts run in
// parallel, each on a server of its own: a part keeps its server busy one
// command at a time (see connect), so on one server they would take turns
// where two cores can run two of them. (TestFault has a server of its own,
// which it stops.)
func TestFerretDB(t *testing.T) {
	// Another app node on the same collection, with a clock of its own.
	nodeOf := func(t *testing.T, s store.Store, opts ...Option) store.Store {
		n, err := New(context.Background(), s.(*Store).coll, append(opts, WithTimeout(testTimeout))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	node := storetest.WithNode(func(t *testing.T, s store.Store, now func() time.Time) store.Store {
		return nodeOf(t, s, WithClock(now))
	})
	// One whose DeleteUser runs a write between its two updateManys.
	during := storetest.WithDuringDeleteUser(func(t *testing.T, s store.Store, now func() time.Time, during func()) store.Store {
		return nodeOf(t, s, WithClock(now), withBetweenEnds(during))
	})
	t.Run("Conformance", func(t *testing.T) {
		t.Parallel()
		cl := connect(t, startFerret(t).URI())
		so, to := smallRecords()
		storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, cl, so...) }, append(to, node, during)...)
	})
	t.Run("ConformanceFakeClock", func(t *testing.T) {
		t.Parallel()
		cl := connect(t, startFerret(t).URI())
		clock := storetest.NewClock(time.Now())
		so, to := smallRecords()
		so = append(so, WithClock(clock.Now))
		storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, cl, so...) }, append(to, storetest.WithClock(clock.Now, clock.Advance), node, during)...)
	})
	t.Run("Backend", func(t *testing.T) {
		t.Parallel()
		f := startFerret(t)
		cl := connect(t, f.URI())
		for _, tc := range backendTests {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, cl, f) })
		}
	})
}

// backendTests are the tests of what the conformance suite cannot know
// about. Each gets the shared client and its server.
var backendTests []struct {
	name string
	fn   func(t *testing.T, cl *mongo.Client, f *ferret)
}

func backendTest(name string, fn func(t *testing.T, cl *mongo.Client, f *ferret)) bool {
	backendTests = append(backendTests, struct {
		name string
		fn   func(t *testing.T, cl *mongo.Client, f *ferret)
	}{name, fn})
	return true
}
