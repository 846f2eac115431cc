// Package testserver starts real servers — redis-server (single node, a
// three-master Redis Cluster with or without replicas, a master and replica
// under Redis Sentinel), memcached, postgres and nginx — for tests.
//
// Tether's promise is that every backend passes the same conformance suite
// against the real thing, so tests here never mock a server that can run on
// the machine. Each constructor starts a fresh server on a free loopback port
// (127.0.0.1) in a temporary directory, waits until the server actually
// answers its own protocol, and registers a [testing.TB.Cleanup] that stops
// it and removes the directory:
//
//	func TestSomething(t *testing.T) {
//		rdb := testserver.Redis(t)          // *RedisServer
//		client := redis.NewClient(&redis.Options{Addr: rdb.Addr()})
//		...
//		rdb.Stop()  // simulate an outage
//		rdb.Start() // same address, empty data
//	}
//
// # Missing binaries
//
// When a server binary is not installed the constructor calls [Require]: the
// test is skipped on a developer machine and fails when the environment
// variable CI is "true", so a CI run can never go green by skipping
// everything. `make test` installs the Debian packages (see
// scripts/install-deps.sh).
//
// Binaries are looked up on $PATH and then in the usual places that are often
// not on a test's $PATH: /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin,
// /sbin, /bin and /usr/lib/postgresql/<version>/bin (newest version first).
//
// # Process lifetime
//
// Servers run as direct children of the test binary with
// SysProcAttr.Pdeathsig set to SIGKILL, so a test binary that crashes or is
// killed by `go test -timeout` takes its servers with it instead of leaving
// them bound to ports. (The kernel delivers the signal when the OS thread that
// started the child exits; Go only retires threads whose goroutine exited
// while locked with runtime.LockOSThread, which test code should not do
// around these calls.) For the same reason Postgres is run as the postgres
// binary itself, not daemonized through `pg_ctl start`, and nginx is run with
// `master_process off` so there are no orphan workers.
//
// Stop sends the server's normal shutdown signal and escalates to SIGKILL
// after a timeout; Start restarts it on the same port and in the same
// directory, which is what tests of reconnects and outages need.
//
// # Failures
//
// Constructors and the Start/Stop methods report failures with
// [testing.TB.Fatalf], including the tail of the server's log, so they must be
// called from the goroutine running the test, like t.Fatal itself.
//
// The package has no dependencies beyond the standard library: readiness
// checks speak just enough of each protocol (RESP, the memcached text
// protocol, the PostgreSQL startup handshake) over raw TCP.
package testserver
