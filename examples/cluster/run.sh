#!/usr/bin/env bash
# The cluster example, live: builds ./app, starts a redis-server, three app
# nodes on the hybrid store and NGINX in front (all on 127.0.0.1, free ports,
# one temporary directory), then walks a user through login → sticky
# requests → kill the sticky node → the next request is served by another
# node, still logged in → a write there → restart the first node → no stale
# read. Each step is printed and checked; everything is stopped and removed
# on exit.
#
# Usage: examples/cluster/run.sh [--ip-hash] [--hold]
#
#   --ip-hash  NGINX sticky by client address (nginx-ip-hash.conf) instead of
#              by the session cookie (nginx-cookie-hash.conf)
#   --hold     keep the cluster running after the walk, until Enter or ^C
#
# Needs go, curl, redis-server and nginx (scripts/install-deps.sh installs
# the servers). cluster_test.go runs the same walk with assertions in CI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
conf="$here/nginx-cookie-hash.conf"
routing='hash $cookie_sid consistent'
hold=false
while [[ $# -gt 0 ]]; do
	case "$1" in
	--ip-hash) conf="$here/nginx-ip-hash.conf" routing='ip_hash' ;;
	--hold) hold=true ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "run.sh: unknown argument $1 (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

# find_bin NAME prints the path of NAME; daemons often live in sbin
# directories that are not on a user's PATH.
find_bin() {
	local dir
	command -v "$1" 2>/dev/null && return 0
	for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
		[[ -x "$dir/$1" ]] && echo "$dir/$1" && return 0
	done
	echo "run.sh: $1 not found; install it (scripts/install-deps.sh installs the servers)" >&2
	return 1
}
go=$(find_bin go)
curl=$(find_bin curl)
redis_server=$(find_bin redis-server)
nginx=$(find_bin nginx)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tether-cluster.XXXXXX")
declare -A pid=()  # process name -> pid of what this script started
declare -A addr=() # node name -> 127.0.0.1:port
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	echo
	echo "== cleaning up"
	for name in "${!pid[@]}"; do
		kill -TERM "${pid[$name]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a port on 127.0.0.1 that nothing listens on and that this
# script has not handed out yet.
used_ports=" "
free_port() {
	local port
	for _ in $(seq 200); do
		port=$((20000 + RANDOM % 40000))
		[[ "$used_ports" == *" $port "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			used_ports+="$port "
			echo "$port"
			return 0
		fi
	done
	echo "run.sh: no free port found" >&2
	return 1
}

# wait_until DESCRIPTION COMMAND...: retries COMMAND for up to 15 seconds.
wait_until() {
	local what=$1
	shift
	for _ in $(seq 150); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "run.sh: $what did not come up; its log:" >&2
	return 1
}

redis_ping() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'PING\r\n' >&3
	IFS= read -r -t 1 reply <&3 || true
	exec 3>&-
	[[ "$reply" == "+PONG"* ]]
}

node_ready() { # node_ready NAME: /healthz answers as that node
	"$curl" -fsS -D - -o /dev/null --max-time 1 "http://${addr[$1]}/healthz" | tr -d '\r' | grep -qix "x-node: $1"
}

start_node() {
	local name=$1
	"$tmp/app" -addr "${addr[$name]}" -redis "127.0.0.1:$redis_port" -node "$name" >>"$tmp/$name.log" 2>&1 &
	pid[$name]=$!
	wait_until "$name" node_ready "$name" || {
		tail -n 20 "$tmp/$name.log" >&2
		exit 1
	}
}

# --- start everything ------------------------------------------------------

echo "== building examples/cluster/app"
(cd "$root" && "$go" build -o "$tmp/app" ./examples/cluster/app)

redis_port=$(free_port)
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$tmp" --logfile "$tmp/redis.log" &
pid[redis]=$!
wait_until redis-server redis_ping "$redis_port" || {
	tail -n 20 "$tmp/redis.log" >&2
	exit 1
}

for name in node1 node2 node3; do
	addr[$name]="127.0.0.1:$(free_port)"
	start_node "$name"
done

# NGINX: the configuration's upstream and server blocks inside an http block
# whose every writable path is in the temporary directory; one process
# (master_process off) that dies with this script.
nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
{
	[[ $EUID -eq 0 ]] && echo "user root;"
	cat <<EOF
master_process off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log notice;
events { worker_connections 512; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/client_body_temp;
	proxy_temp_path $tmp/nginx/proxy_temp;
	fastcgi_temp_path $tmp/nginx/fastcgi_temp;
	uwsgi_temp_path $tmp/nginx/uwsgi_temp;
	scgi_temp_path $tmp/nginx/scgi_temp;
EOF
	sed -e "s/{{listen}}/127.0.0.1:$nginx_port/g" \
		-e "s/{{node1}}/${addr[node1]}/g" \
		-e "s/{{node2}}/${addr[node2]}/g" \
		-e "s/{{node3}}/${addr[node3]}/g" "$conf"
	echo "}"
} >"$tmp/nginx/nginx.conf"
"$nginx" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' &
pid[nginx]=$!
lb="http://127.0.0.1:$nginx_port"
wait_until nginx "$curl" -sS -o /dev/null --max-time 1 "$lb/healthz" || {
	tail -n 20 "$tmp/nginx/error.log" >&2
	exit 1
}

echo "== cluster up: NGINX $lb ($routing) → node1 ${addr[node1]}, node2 ${addr[node2]}, node3 ${addr[node3]}; redis 127.0.0.1:$redis_port"

# --- the walk ----------------------------------------------------------------

jar="$tmp/cookies"
status='' node='' body=''

# req METHOD URL [curl arguments]: one request with the user's cookie jar;
# sets status, node (the X-Node header) and body.
req() {
	local method=$1 url=$2
	shift 2
	status=$("$curl" -sS -X "$method" -b "$jar" -c "$jar" -D "$tmp/headers" -o "$tmp/body" \
		-w '%{http_code}' --max-time 10 "$@" "$url")
	node=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Xx]-[Nn]ode: //p')
	body=$(cat "$tmp/body")
}

# field NAME prints a field of the JSON body (the app's replies are flat).
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$body"; }

# counter NAME FIELD prints one of a node's cache counters.
counter() {
	local body
	body=$("$curl" -sS --max-time 2 "http://${addr[$1]}/stats")
	field "$2"
}

# stats NAME prints a node's main cache counters (hybridstore.Stats).
stats() {
	local body
	body=$("$curl" -sS --max-time 2 "http://${addr[$1]}/stats")
	printf 'hits=%s loads=%s invalidations=%s flushes=%s entries=%s' \
		"$(field Hits)" "$(field Loads)" "$(field Invalidations)" "$(field Flushes)" "$(field Entries)"
}

step() { printf '\n%s\n' "$*"; }
show() { printf '   %-34s → %s from %s  %s\n' "$1" "$status" "${node:-?}" "$body"; }
check() { # check CONDITION-DESCRIPTION TEST...
	local what=$1
	shift
	if "$@"; then
		printf '   ✓ %s\n' "$what"
	else
		printf '   ✗ %s\n' "$what" >&2
		exit 1
	fi
}

step "1. A visitor arrives."
req POST "$lb/"
show "POST /"
check "a new session, first visit" test "$status:$(field visits)" = "200:1"

step "2. She logs in as alice: the token rotates, and the new token picks her node."
req POST "$lb/login" -d user=alice
show "POST /login user=alice"
check "logged in" test "$status:$(field user)" = "200:alice"

step "3. Three more visits: all on one node."
req POST "$lb/"
show "POST /"
sticky=$node
for _ in 1 2; do
	req POST "$lb/"
	show "POST /"
	check "same node" test "$node" = "$sticky"
done
req POST "$lb/set?k=color&v=blue"
show "POST /set?k=color&v=blue"
check "written on $sticky" test "$status:$node" = "200:$sticky"

step "4. Her reads: served from $sticky's memory, once the session is in its cache."
sleep 0.1 # let $sticky's own write notifications come back (see cluster_test.go)
hits=$(counter "$sticky" Hits) loads=$(counter "$sticky" Loads)
for _ in 1 2 3; do
	req GET "$lb/get?k=color"
	show "GET /get?k=color"
	check "blue, from $sticky" test "$(field value):$node" = "blue:$sticky"
done
hits=$(($(counter "$sticky" Hits) - hits)) loads=$(($(counter "$sticky" Loads) - loads))
echo "   $sticky: $hits of 3 reads from its cache, $loads from Redis"
check "at least 2 from memory" test "$hits" -ge 2

step "5. The other nodes read the session too (past NGINX), so each caches color=blue."
for name in node1 node2 node3; do
	[[ $name == "$sticky" ]] && continue
	req GET "http://${addr[$name]}/get?k=color"
	show "GET $name/get?k=color"
	check "$name reads blue" test "$(field value)" = blue
done

step "6. $sticky dies (SIGKILL: no shutdown, its cache gone)."
{ kill -KILL "${pid[$sticky]}" && wait "${pid[$sticky]}"; } 2>/dev/null || true
unset "pid[$sticky]"
echo "   killed $sticky"

step "7. Her next request: another node, which finds the session in Redis."
req POST "$lb/"
show "POST /"
fallback=$node
check "served by another node" test "$node" != "$sticky"
check "still logged in as alice, visits go on at 5" test "$status:$(field user):$(field visits)" = "200:alice:5"

step "8. She changes the value there."
req POST "$lb/set?k=color&v=green"
show "POST /set?k=color&v=green"
check "written on $fallback" test "$status:$node" = "200:$fallback"
for name in node1 node2 node3; do
	[[ $name == "$sticky" || $name == "$fallback" ]] && continue
	sleep 0.2 # the invalidation travels by Redis pub/sub, after the response
	req GET "http://${addr[$name]}/get?k=color"
	show "GET $name/get?k=color"
	check "$name dropped its cached blue: it reads green" test "$(field value)" = green
done

step "9. $sticky comes back on the same address, with an empty cache."
start_node "$sticky"
echo "   restarted $sticky"
req GET "$lb/get?k=color"
show "GET /get?k=color"
check "no stale read: green" test "$status:$(field value)" = "200:green"
[[ $node == "$sticky" ]] && echo "   (NGINX routed her back to $sticky)"
for name in node1 node2 node3; do
	req GET "http://${addr[$name]}/get?k=color"
	show "GET $name/get?k=color"
	check "$name reads green" test "$(field value)" = green
done

step "10. Each node's cache counters."
for name in node1 node2 node3; do
	printf '   %s: %s\n' "$name" "$(stats "$name")"
done

step "11. She logs out: on every node."
token=$(awk '$6 == "sid" { print $7 }' "$jar")
req POST "$lb/logout"
show "POST /logout"
sleep 0.2
for name in node1 node2 node3; do
	status=$("$curl" -sS -o /dev/null -w '%{http_code}' --max-time 5 -b "sid=$token" "http://${addr[$name]}/whoami")
	check "$name: the old cookie is logged out ($status)" test "$status" = 401
done

echo
echo "== done: the user stayed logged in across the loss of $sticky, and no node served a stale value."
if $hold; then
	echo "   the cluster is still up: try curl -X POST -c jar -b jar $lb/ — Enter or ^C stops it"
	read -r || true
fi
