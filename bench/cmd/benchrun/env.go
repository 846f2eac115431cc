package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// machine is what the report says about where it ran.
type machine struct {
	CPUs        int
	CPUModel    string
	MemTotal    string
	Kernel      string
	GoVersion   string
	Redis       string
	LoadGen     string
	Tether      string // commit and dirty state
	Libraries   [][2]string
	LoadBefore  string
	LoadAfter   string
	OtherGoProc int // other go/test processes seen at start (a shared machine)
}

func detectMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			m.CPUs = n
		}
	}
	m.CPUModel = firstField("/proc/cpuinfo", "model name")
	m.MemTotal = firstField("/proc/meminfo", "MemTotal")
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		f := strings.Fields(string(out))
		for _, x := range f {
			if v, ok := strings.CutPrefix(x, "v="); ok {
				m.Redis = "redis-server " + v
			}
		}
	}
	m.Tether = tetherVersion()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch {
			case strings.HasPrefix(d.Path, "github.com/alexedwards/scs"),
				strings.HasPrefix(d.Path, "github.com/gorilla/"),
				strings.HasPrefix(d.Path, "github.com/rbcervilla/"),
				strings.HasPrefix(d.Path, "github.com/redis/go-redis"),
				strings.HasPrefix(d.Path, "github.com/maypok86/otter"):
				m.Libraries = append(m.Libraries, [2]string{d.Path, d.Version})
			}
		}
	}
	m.LoadBefore = loadavg()
	return m
}

func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// tetherVersion is the commit the library was built from, and whether the
// working tree outside bench/ differed from it (the benchmark builds the
// working tree through the replace directive).
func tetherVersion() string {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	v := "commit " + strings.TrimSpace(string(out))
	st, _ := exec.Command("git", "-C", "..", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench", ":(exclude)BENCHMARKS.md", ":(exclude)README.md", ":(exclude)Makefile").Output()
	var dirty []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(st)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			f := strings.Fields(l)
			dirty = append(dirty, f[len(f)-1])
		}
	}
	if len(dirty) > 0 {
		v += " plus uncommitted changes in " + strings.Join(dirty, ", ")
	}
	return v
}
