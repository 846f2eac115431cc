package binpath

import (
	"path/filepath"
	"testing"
)

// TestFindOffPath: with $PATH holding nothing, a binary in a system
// directory is still found (sh is in /bin or /usr/bin on every machine the
// tests run on); a name nothing installs is not.
func TestFindOffPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := Find("sh")
	if d := filepath.Dir(p); p == "" || (d != "/bin" && d != "/usr/bin") {
		t.Errorf("Find(sh) with an empty $PATH: %q, want /bin/sh or /usr/bin/sh", p)
	}
	if p := Find("tether-no-such-binary"); p != "" {
		t.Errorf("Find of a binary nobody installs: %q", p)
	}
}
