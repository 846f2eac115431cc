#!/usr/bin/env bash
# Runs every store's Load and Commit benchmarks back to back, in one run,
# against the real servers the tests start (memory, Redis, Postgres, bbolt,
# MariaDB, and the FerretDB embedded in mongostore's test binary), and prints
# benchstat's medians: the store figures that bench/analysis.md quotes. Not
# part of `make test`.
#
# The servers the tests start favour speed over durability (Redis without
# persistence, Postgres with fsync off); boltstore syncs every commit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CI=true
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-2000x}
out=$(mktemp)
run() { go test -run '^$' -bench '^Benchmark(Load|Commit)$' -benchtime "$BENCHTIME" -count "$COUNT" "$@" | tee -a "$out"; }
for pkg in ./store/memstore ./store/redisstore ./store/pgstore ./store/boltstore; do
	run "$pkg"
done
(cd store/mysqlstore && run .)
(cd store/mongostore && run .)
go run golang.org/x/perf/cmd/benchstat@latest "$out"
