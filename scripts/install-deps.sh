#!/usr/bin/env bash
# Installs what the test suite needs and reports what it found.
#
# The tests start their own redis-server, redis-cli, memcached, postgres,
# mariadbd and nginx processes on loopback (internal/testserver); they need the binaries,
# not the system services. So this script installs only packages whose
# binaries are missing, never starts their services, and stops any service of
# a package it installed in case the package's scripts started it anyway.
# `go test -race` also needs a C compiler (cgo), and the benchmark harness's
# tests run redis-server under valgrind's callgrind (callgrind_control).
#
# Idempotent: with everything present it only prints what it found. Without
# root (or without apt-get) it prints a warning and exits 0: the tests then
# skip what is missing, or fail when CI=true.
set -euo pipefail

# find_bin NAME prints the path of NAME, searching the places
# internal/testserver searches (daemons often live outside $PATH).
find_bin() {
	local dir
	if command -v "$1" 2>/dev/null; then
		return 0
	fi
	for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin \
		$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn); do
		if [[ -x "$dir/$1" ]]; then
			echo "$dir/$1"
			return 0
		fi
	done
	return 1
}

# binary -> Debian package that provides it.
declare -A package_of=(
	[redis-server]=redis-server
	[redis-cli]=redis-tools
	[memcached]=memcached
	[nginx]=nginx-light
	[initdb]=postgresql
	[mariadbd]=mariadb-server
	[gcc]=gcc
	[callgrind_control]=valgrind
)
# package -> service its maintainer scripts may start.
declare -A service_of=(
	[redis-server]=redis-server
	[memcached]=memcached
	[nginx-light]=nginx
	[postgresql]=postgresql
	[mariadb-server]=mariadb
)
# The C compiler cgo will use: $CC, else what `go env CC` says, else gcc.
cc=${CC:-$(go env CC 2>/dev/null || true)}
cc=${cc%% *}
cc=${cc:-gcc}

missing_packages=()
for bin in redis-server redis-cli memcached nginx initdb mariadbd callgrind_control "$cc"; do
	if ! find_bin "$bin" >/dev/null; then
		pkg=${package_of[$bin]:-gcc}
		[[ " ${missing_packages[*]} " == *" $pkg "* ]] || missing_packages+=("$pkg")
	fi
done

if ((${#missing_packages[@]})); then
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
		echo "install-deps: WARNING: missing packages: ${missing_packages[*]}" >&2
		echo "install-deps: run as root on Debian/Ubuntu to install them; tests needing them will skip (or fail with CI=true)." >&2
	else
		echo "install-deps: installing ${missing_packages[*]}"
		# Tell invoke-rc.d not to start services during installation, unless
		# the machine already has a policy (Docker images ship one).
		policy=/usr/sbin/policy-rc.d
		if [[ ! -e "$policy" ]]; then
			printf '#!/bin/sh\n# installed by tether scripts/install-deps.sh for one apt-get run\nexit 101\n' >"$policy"
			chmod 755 "$policy"
			trap 'rm -f "$policy"' EXIT
		fi
		packages=("${missing_packages[@]}")
		if [[ " ${packages[*]} " == *" gcc "* ]]; then
			packages+=(libc6-dev)
		fi
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
		# Stop (and, under systemd, disable) services of packages installed
		# just now; services the machine had before are left alone.
		for pkg in "${packages[@]}"; do
			svc=${service_of[$pkg]:-}
			[[ -n "$svc" ]] || continue
			if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
				systemctl disable --now "$svc" >/dev/null 2>&1 || true
			elif command -v service >/dev/null; then
				service "$svc" stop >/dev/null 2>&1 || true
			fi
		done
	fi
fi

status=0
for bin in redis-server redis-cli memcached nginx initdb postgres mariadbd mariadb-install-db callgrind_control "$cc"; do
	if path=$(find_bin "$bin"); then
		printf 'install-deps: %-13s %s\n' "$bin" "$path"
	else
		printf 'install-deps: %-13s MISSING\n' "$bin"
		status=1
	fi
done
if ((status)); then
	echo "install-deps: WARNING: some test dependencies are missing (see above)." >&2
fi
exit 0
