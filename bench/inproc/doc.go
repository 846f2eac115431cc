// Package inproc holds the in-process overhead benchmarks: each app of
// package apps served through httptest, one request per iteration, for the
// routes that ignore, read, and write the session.
//
//	go test -run='^$' -bench=. -benchmem -count=5 ./inproc
//
// Benchmarks of the apps on Redis use the server named by BENCH_REDIS_ADDR,
// or start a redis-server of their own (and skip without one). The harness
// (cmd/benchrun) runs the compiled test binary in alternating rounds and
// subtracts the no-library baseline of the same route.
package inproc
