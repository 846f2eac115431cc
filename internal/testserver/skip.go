package testserver

import (
	"os"
	"testing"
)

// Require makes the test depend on the executable name (for example
// "redis-server"). If it cannot be found on $PATH or in the usual sbin and
// PostgreSQL directories, the test is skipped — unless the environment
// variable CI is "true", in which case it fails: in CI a missing server means
// the environment is broken, and skipping would let the suite pass without
// testing the backend at all.
//
// The constructors in this package call Require themselves; tests call it
// directly only for tools they run on their own (psql, redis-cli, …).
func Require(tb testing.TB, name string) {
	tb.Helper()
	if findBinary(name) != "" {
		return
	}
	missing(tb, "%s not installed; run `make test` (installs it) — see README", name)
}

// missing reports an unusable environment with Require's policy: a failure
// in CI, a skip elsewhere.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// lookBinary returns the path of name, or ends the test as Require does.
func lookBinary(tb testing.TB, name string) string {
	tb.Helper()
	Require(tb, name)
	return findBinary(name)
}
