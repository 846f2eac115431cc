package main

import (
	"fmt"
	"os/exec"
	"strconv"
)

// pinning places the HTTP runs' processes on CPUs: the load generator on CPU
// 0, the app servers and redis-server on the others. Unpinned, the scheduler
// moves them between CPUs differently in every run, and which process waits
// for which varies from run to run: on two CPUs, that varied the /none route's
// req/s by ±5 % between runs of the same code (the control row of the
// targets table), the size of the difference that route measures.
//
// Pinned, each app server gets GOMAXPROCS of the CPUs it is given, shares them
// with redis-server as an app server shares a Redis node's host in a small
// deployment, and never competes with the load generator. The constant-rate
// runs are the exception: they move redis-server to the generator's CPU (see
// runRates and rateString).
type pinning struct {
	load, servers string // taskset(1) CPU lists; "" runs unpinned
	all           string // every CPU, to unpin with
}

// choosePinning pins on a machine of two or more CPUs where taskset is
// installed (util-linux), unless off.
func choosePinning(cpus int, on bool) pinning {
	if !on || cpus < 2 {
		return pinning{}
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return pinning{}
	}
	servers := "1"
	if cpus > 2 {
		servers = "1-" + strconv.Itoa(cpus-1)
	}
	return pinning{load: "0", servers: servers, all: "0-" + strconv.Itoa(cpus-1)}
}

func (p pinning) String() string {
	if p.load == "" {
		return "unpinned: the load generator, the app servers and redis-server share all CPUs"
	}
	return fmt.Sprintf("pinned with taskset: the load generator on CPU %s, the app servers and redis-server on CPU %s", p.load, p.servers)
}

// rateString describes the placement of the constant-rate runs (runRates),
// where redis-server moves to the load generator's CPU.
func (p pinning) rateString() string {
	if p.load == "" {
		return p.String()
	}
	return fmt.Sprintf("pinned with taskset: the load generator and redis-server on CPU %s, the app servers on CPU %s. redis-server does not share the apps' CPU here: beside them it waited while an app's collector marked, so the write tail of the app with the largest heap (tether-hybrid's 20,000 cached sessions) was the collector's delay of Redis, not the library's own; see `bench/analysis.md`, ‘The hybrid write tail’", p.load, p.servers)
}

// command returns name args, run on cpus ("": anywhere).
func command(cpus, name string, args ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
}

// pinProcess moves every thread of a running process to cpus.
func pinProcess(cpus string, pid int) error {
	if cpus == "" {
		return nil
	}
	if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset -p %d: %v: %s", pid, err, out)
	}
	return nil
}
