package testserver

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalTB records a Fatalf and ends the goroutine, as testing.T does,
// without failing the test that runs it.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A wait that times out before the sentinel is started (the replica's sync,
// the first wait of RedisSentinel) fails the test with its message: there
// is no sentinel log to add to it, and reading one must not panic.
func TestSentinelWaitTimesOutBeforeSentinel(t *testing.T) {
	tb := &fatalTB{TB: t}
	s := &RedisSentinelServer{tb: tb, timeout: 100 * time.Millisecond}
	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		s.waitFor("the replica in sync", func() error { return errors.New("master_link_status:down") })
	}()
	if p := <-done; p != nil {
		t.Fatalf("waitFor panicked: %v", p)
	}
	if !strings.Contains(tb.msg, "the replica in sync") || !strings.Contains(tb.msg, "master_link_status:down") {
		t.Errorf("failure message %q does not say what was awaited and why", tb.msg)
	}
}
