#!/usr/bin/env bash
# Installs what the benchmarks need beyond the test servers (which
# scripts/install-deps.sh installs, redis-server among them): the wrk load
# generator, from Debian's package. Without root or apt-get it warns and exits
# 0: the harness then uses its Go load generator and says so in BENCHMARKS.md.
set -euo pipefail

if command -v wrk >/dev/null; then
	echo "bench/install.sh: wrk $(command -v wrk)"
	exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
	echo "bench/install.sh: WARNING: wrk missing and cannot install it (not root, or no apt-get); using the Go load generator." >&2
	exit 0
fi
echo "bench/install.sh: installing wrk"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk ||
		echo "bench/install.sh: WARNING: could not install wrk; using the Go load generator." >&2
fi
command -v wrk >/dev/null && echo "bench/install.sh: wrk $(command -v wrk)"
exit 0
