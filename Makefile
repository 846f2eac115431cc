# Tether's developer commands. `make test` is the one the README documents: it
# installs the servers the tests start (scripts/install-deps.sh), then checks
# formatting, vets, and runs every test with the race detector.

GO       ?= go
FUZZTIME ?= 20s

.PHONY: test deps fmt vet run fuzz bench

test: deps fmt vet
	$(GO) test -race -count=1 ./...
	cd examples/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...

deps:
	bash scripts/install-deps.sh

# gofmt -l prints the files that need formatting; fail with their names.
fmt:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

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

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
