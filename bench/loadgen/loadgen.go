// Package loadgen drives HTTP load at a server on loopback and reports
// throughput and latency percentiles: with wrk when it is installed (bench/
// install.sh installs Debian's), otherwise with a small Go generator of the
// same shape (fixed connections, closed loop, fixed duration). Config.Rate
// selects a constant-rate mode instead, safe from coordinated omission.
//
// Requests spread over a set of cookies, one per session, so that the load
// is many sessions, as in production, not one hot key.
package loadgen

import (
	"fmt"
	"time"
)

// Config is one run.
type Config struct {
	URL      string        // full URL, e.g. http://127.0.0.1:8080/read
	Cookies  []string      // Cookie header values, used round robin
	Conns    int           // concurrent connections (default 16)
	Duration time.Duration // how long to send (default 3s)
	// CPUs is a taskset(1) CPU list the generator runs on ("": any). Only
	// wrk is pinned; the Go generator runs in the caller's process.
	CPUs string
	// Rate, if positive, switches to the constant-rate (open-loop) mode:
	// Rate requests a second, each timed from when it was due (see
	// runRate). Both runners run it with the Go generator in the caller's
	// process: wrk has no such mode (wrk2 has, and is not packaged).
	Rate float64
}

// Result is what a run measured. Latencies are of complete responses.
type Result struct {
	Tool     string // "wrk" or "go"
	Requests int64
	Errors   int64 // connection/read/write errors and timeouts
	Non2xx   int64 // responses with a status outside 200–399
	Elapsed  time.Duration
	RPS      float64
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
	P999     time.Duration
	Max      time.Duration
	Rate     float64 // the constant rate asked for; 0 for a closed-loop run
}

// Runner runs load.
type Runner interface {
	Name() string
	Run(cfg Config) (Result, error)
}

// New returns the runner named by tool: "wrk", "go", or "auto" (wrk if it is
// on the PATH, else the Go one). workDir holds wrk's script and cookie files.
func New(tool, workDir string) (Runner, error) {
	switch tool {
	case "go":
		return goRunner{}, nil
	case "wrk", "auto":
		w, err := newWrk(workDir)
		if err == nil {
			return w, nil
		}
		if tool == "wrk" {
			return nil, err
		}
		return goRunner{}, nil
	}
	return nil, fmt.Errorf("loadgen: unknown tool %q (wrk, go, auto)", tool)
}

func (c *Config) defaults() {
	if c.Conns <= 0 {
		c.Conns = 16
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
}
