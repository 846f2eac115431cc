package mongostore

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// The tests' server is FerretDB v1 (mongod cannot be installed here),
// embedded in the test process with its SQLite backend, in a temporary
// directory, behind a loopback port. It speaks the MongoDB wire protocol, so
// the store talks to it through the official driver as it would to mongod.
//
// FerretDB v1 applies an update (or findAndModify, or a filtered delete) as
// a read of the matching documents followed by a separate write of the
// modified ones: two commands running at once on different connections can
// both read a document, and the second write then drops the first's change.
// MongoDB applies every single-document write atomically, and the store is
// written for that. So the tests' clients have a pool of one connection
// (see connect): FerretDB then sees one command at a time, as if each were
// atomic, while the store's own commands still interleave as they would on
// MongoDB (a read by one request between the read and the write of
// another), which is what the concurrency tests exercise.

// ferret is an embedded FerretDB and its serialising proxy.
type ferret struct {
	addr string // the proxy's address: what clients dial
	dir  string // the SQLite data directory

	mu      sync.Mutex
	running bool
	stop    func()
}

// newFerretMu serialises ferretdb.New, which writes a package variable.
var newFerretMu sync.Mutex

// startFerret starts FerretDB on a fresh data directory and a free loopback
// port; it is stopped when the test ends. FerretDB is in the test binary,
// so, unlike the other servers, it can always run: never skipped, in CI or
// not.
func startFerret(tb testing.TB) *ferret {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f := &ferret{addr: ln.Addr().String(), dir: tb.TempDir()}
	if err := f.start(ln); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Stop)
	return f
}

// URI is the connection string of the server.
func (f *ferret) URI() string { return "mongodb://" + f.addr + "/" }

// Stop stops the server: its listener and every connection close, as when
// mongod is killed. Stopping a stopped server does nothing.
func (f *ferret) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running {
		f.stop()
		f.running = false
	}
}

// Restart starts the server again on the same port and data directory.
func (f *ferret) Restart(tb testing.TB) {
	tb.Helper()
	f.Stop()
	var ln net.Listener
	var err error
	for range 50 { // the port was just released
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("ferretdb: listen again on %s: %v", f.addr, err)
	}
	if err := f.start(ln); err != nil {
		tb.Fatal(err)
	}
}

func (f *ferret) start(ln net.Listener) error {
	ln.Close() // FerretDB listens itself; the port was only reserved
	newFerretMu.Lock()
	db, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: f.addr},
		Handler:  "sqlite",
		// synchronous(off): a test's data need not survive a power cut,
		// and fsyncs on a shared machine make every write slow.
		SQLiteURL: "file:" + f.dir + "/?_pragma=synchronous(off)",
		Logger:    slog.New(slog.DiscardHandler),
	})
	newFerretMu.Unlock()
	if err != nil {
		return fmt.Errorf("ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = db.Run(ctx)
	}()
	_ = db.MongoDBURI() // returns once Run listens
	f.mu.Lock()
	f.running = true
	f.stop = func() {
		cancel()
		<-ran
	}
	f.mu.Unlock()
	return nil
}
