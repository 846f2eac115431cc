package boltstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
)

const crashChildEnv = "BOLTSTORE_CRASH_CHILD_FILE"

// crashChild is the process TestKillDuringWrites kills: writers commit
// sessions to the file at path as fast as they can and print "ack <id>"
// for each commit once it has returned, until killed.
func crashChild(path string) {
	s, err := boltstore.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	const writers = 16
	for w := range writers {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%02d-%08d", w, i)
				now := time.Now()
				_, err := s.Commit(context.Background(), id, store.Change{
					Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
					Set: map[string][]byte{"n": []byte(id)}, UserID: "crash", SetUserID: true,
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "commit:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s\n", id)
				out.Flush() // the parent learns of the ack only after it happened
				mu.Unlock()
			}
		}()
	}
	select {}
}

// A commit acknowledged to its caller survives kill -9 of the process.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	path := filepath.Join(t.TempDir(), "sessions.db")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 300
	var acked []string
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			t.Fatalf("child said %q", sc.Text())
		}
		acked = append(acked, id)
		if len(acked) == killAfter && !killed {
			// SIGKILL: no deferred code, no flush, no Close.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before it was killed (%v): %s", err, stderr.String())
	}

	s := openAt(t, path)
	ctx := context.Background()
	for _, id := range acked {
		rec, err := s.Load(ctx, id)
		if err != nil {
			t.Fatalf("Load(%s): %v", id, err)
		}
		if rec == nil || string(rec.Values.Get("n")) != id {
			t.Fatalf("acknowledged write %s lost after kill -9", id)
		}
	}
	n, err := s.Len()
	if err != nil {
		t.Fatal(err)
	}
	infos, err := s.UserSessions(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != n {
		t.Errorf("user index lists %d sessions, the file holds %d", len(infos), n)
	}
	t.Logf("killed the writer after %d acknowledged writes (%d read in all); all %d found after reopening, %d records in the file",
		killAfter, len(acked), len(acked), n)
}
