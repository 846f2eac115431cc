// Package binpath finds the server binaries the tests and the benchmarks
// start (redis-server, postgres, mariadbd…) where a package installs them,
// not only on $PATH: daemons live in sbin directories that a non-login shell
// or a CI runner often leaves off $PATH, and Debian's PostgreSQL server
// binaries are only in /usr/lib/postgresql/<version>/bin.
// scripts/install-deps.sh counts a binary found in these places as
// installed, so every test and benchmark must find it there too.
package binpath

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// extraDirs are searched after $PATH, before the PostgreSQL directories.
var extraDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Find returns the path of an executable called name, or "" if there is
// none.
func Find(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range append(append([]string(nil), extraDirs...), postgresDirs()...) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// postgresDirs lists /usr/lib/postgresql/*/bin, newest major version first.
func postgresDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}
