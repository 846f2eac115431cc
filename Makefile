# Tether's developer commands. `make test` is the one the README documents: it
# installs the servers the tests start (scripts/install-deps.sh), then checks
# formatting, vets, and runs every test with the race detector.

GO       ?= go
FUZZTIME ?= 20s

# go test stops a package after 10 minutes by default; mongostore's three
# conformance suites against the embedded FerretDB took 5–6 of them under the
# race detector on 2 cores when they ran one after another (346 s alone on
# 2026-12-07, 519 s next to other work). They now run in parallel, on a
# server each (TestFerretDB/Conformance alone, 217 s, is the longest); the
# limit stays as a margin for a CI machine slower than this one.
TESTFLAGS ?= -race -count=1 -timeout 20m

# The root module holds the session core and the four backends the design
# names; every integration with a heavy dependency is a module of its own, so
# an application downloads only what it imports. `make test` runs them all,
# the benchmark harness's own tests (bench: its load generator, statistics and
# apps) among them.
MODULES ?= . metrics/prometheus metrics/otel store/mysqlstore store/mongostore examples/cluster examples/routers bench

.PHONY: test deps fmt vet run fuzz bench instr bench-stores stress chaos

# The root module's tests that run several processes under load (the short
# chaos run, affinity's end-to-end test behind NGINX) run after its other
# packages, one at a time, so that their load never overlaps the time bounds
# the other packages check on 2 cores.
SERIAL ?= github.com/tether-go/tether/internal/chaos github.com/tether-go/tether/affinity

# A module that fails does not stop the others: the run goes on and fails at
# the end, naming every module that failed, so one CI run reports them all.
test: deps fmt vet
	@failed=""; for m in $(MODULES); do \
		echo "== go test $$m"; \
		if [ "$$m" = . ]; then \
			pkgs="$$($(GO) list ./... | grep -v -x $(foreach p,$(SERIAL),-e '$(p)\(/.*\)\?'))"; \
			$(GO) test $(TESTFLAGS) $$pkgs || failed="$$failed ."; \
			echo "== go test $(SERIAL) (one package at a time)"; \
			$(GO) test $(TESTFLAGS) -p 1 $(addsuffix /...,$(SERIAL)) || failed="$$failed .(serial)"; \
		else \
			(cd $$m && $(GO) test $(TESTFLAGS) ./...) || failed="$$failed $$m"; \
		fi; \
	done; \
	echo "== go test examples/kubernetes"; \
	(cd examples/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...) || failed="$$failed examples/kubernetes"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED in:$$failed"; exit 1; fi

deps:
	bash scripts/install-deps.sh

# gofmt -l prints the files that need formatting; fail with their names.
fmt:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$out"; exit 1; fi

vet:
	@failed=""; for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || failed="$$failed $$m"; done; \
	if [ -n "$$failed" ]; then echo "make vet: FAILED in:$$failed"; exit 1; fi

run:
	$(GO) run ./examples/basic

# Runs each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target"; \
			$(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
		done; \
	done

# Compares Tether with alexedwards/scs and gorilla/sessions (bench/, a module
# of its own so that the peers never enter go.mod) and writes BENCHMARKS.md and
# bench/benchmarks.svg: in-process overhead, HTTP throughput (with the limit
# apps: one Redis GET, one map read; the route that ignores the session in
# interleaved 100 ms slices), a constant-rate run (tail latency, CPU per
# request), and how cost grows with 10k and 100k sessions. About 20
# minutes on 2 cores; not part of `make test`. BENCH_FLAGS passes flags to
# cmd/benchrun, e.g. BENCH_FLAGS=-growth=10000,100000,1000000 for the 1M step
# (about 15 minutes and 3 GB of memory more on 2 cores).
BENCH_FLAGS ?=

bench: deps
	bash bench/install.sh
	cd bench && $(GO) vet ./... && $(GO) run ./cmd/benchrun -out ../BENCHMARKS.md -chart benchmarks.svg $(BENCH_FLAGS)

# Counts the instructions each app's server executes per request on /none, the
# route that never touches the session, under valgrind's callgrind
# (bench/cmd/instrcount): the same figure in every run, where req/s on a
# shared 2-core machine moves by several percent from one run to the next.
# Writes bench/results/instructions.md; about 8 minutes.
instr: deps
	@set -e; cd bench; bin=$$(mktemp -d); trap 'rm -rf "$$bin"' EXIT; \
		$(GO) build -o "$$bin/benchserver" ./cmd/benchserver; \
		$(GO) run ./cmd/instrcount -server "$$bin/benchserver"

# Runs the concurrency model checker (internal/modelcheck) on every backend,
# all at once, for STRESS each (TETHER_STRESS), then for as long again through
# a fault proxy that loses replies and stalls links: about 2 x STRESS in all.
# A failure prints the seed (TETHER_SEED=N replays it) and the history of the
# sessions involved.
STRESS ?= 10m

stress: deps
	CI=true TETHER_STRESS=$(STRESS) $(GO) test -count=1 -timeout 0 -parallel 6 -v ./internal/modelcheck/

# Every store's Load and Commit benchmarks back to back in one run, with
# benchstat's medians (bench/stores.sh). About 5 minutes.
bench-stores: deps
	bash bench/stores.sh

# Runs every fault of internal/chaos (stores killed and restarted, failovers,
# network stalls, resets and black holes, app nodes SIGKILLed) under load
# behind NGINX, then a soak of CHAOS_SOAK on hybrid over Redis with periodic
# faults, and writes RELIABILITY.md. About 6 minutes plus CHAOS_SOAK; not part
# of `make test`, which runs the short version (TestShort).
CHAOS_SOAK ?= 10m

chaos: deps
	CI=true TETHER_CHAOS_OUT=$(CURDIR)/RELIABILITY.md TETHER_CHAOS_SOAK=$(CHAOS_SOAK) \
		$(GO) test -count=1 -timeout 0 -run '^TestFull$$' -v ./internal/chaos/
