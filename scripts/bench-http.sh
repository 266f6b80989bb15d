#!/usr/bin/env bash
# HTTP client benchmark: keep-alive HTTPS GETs with a ~1.9 KB bearer token to a local
# nginx returning a small JSON, on 1 and on 16 connections, by oidc::http::client, wrk and
# libcurl (easy handle reuse) in the same run. nginx and every client are pinned to the
# same CPU (taskset) so that the figures compare the clients' own cost.
#
# Usage: [ROUNDS=N] scripts/bench-http.sh [SECONDS_PER_RUN]   (default 3; each run is bounded)
#
# On a loaded machine the ratios are noisy, and libcurl (one thread per connection) gets
# more of the shared CPU than the one-thread clients at 16 connections: compare on an idle
# machine. History (2 cores shared with other builds):
#   before the rework (strand + co_spawn per request, asio::ssl::stream, timer cancelled
#   and re-armed per request): 1 conn 0.52x wrk / 1.31x curl, 16 conns 0.70x / 1.65x (load
#   ~17); 0.62x / 0.99x wrk and 1.76x / 2.76x curl on a quiet moment (load 0.3).
#   after (requests run in the awaiting coroutine, OpenSSL straight on the descriptor,
#   one lazily re-armed timer, reused buffers), 2026-11-25 14:01-14:04, load 0.4-3, two
#   ROUNDS=3 runs, medians: 1 conn 0.84x / 0.89x wrk and 1.90x / 1.67x curl; 16 conns
#   0.96x / 1.15x wrk and 2.29x / 2.60x curl (single rounds: 0.69-0.99x wrk on 1 conn).
#   Client CPU per request (client alone pinned, nginx free): 1 conn ~61 -> ~35 us
#   (wrk ~28 us), 16 conns ~40 -> ~27 us (wrk ~28 us).
#   then (session 3): a request tries its steps without waiting first (write, then a read
#   right after it: with client and server on one CPU the response is nearly always there
#   already), arms the timer and awaits a coroutine only for what must wait; 2 syscalls
#   per keep-alive request (sendto, recvfrom) instead of 4 (+ epoll_ctl, epoll_wait) and
#   wrk's 7; pool entries kept when empty, pool key and request-target built in reused
#   buffers, one coroutine frame less. Loaded machine (load 4.1-4.9, 16:43, three
#   rounds of 3 s, same steps as below): 1 conn 0.81 / 0.88 / 0.64x wrk (median 0.81x)
#   and 1.61 / 1.67 / 1.22x curl (1.61x); 16 conns 1.06 / 1.04 / 0.94x wrk (1.04x) and
#   2.46 / 2.52 / 2.12x curl (2.46x). The client's user-space CPU per request is still
#   ~1.5-2x wrk's (request and response objects, parser, TLS record calls): the syscalls
#   are no longer the gap. The lead's idle-machine run is the reference.
#   then (session 4): send_impl's coroutine frame fits Asio's 1,020-byte recycled slot
#   (parser kept in the connection, the last target's parsed URL cached per thread,
#   connecting in a coroutine of its own, the response waits awaited in send_impl: no
#   read coroutine), OpenSSL's error queue peeked instead of cleared, field values checked
#   64 bytes per step. Instructions per request (callgrind, bench_http, difference of a
#   2 s and an 8 s run): 1 conn 35.4k -> 29.5k, 16 conns 37.3k -> 31.3k; allocations per
#   waiting request 5 -> 3. bench_http prints the client's CPU per request (user + sys) on
#   stderr. Loaded machine (load 2.4-2.7, 19:34-19:37, two ROUNDS=3 runs of 3 s): 1 conn
#   medians 0.95x / 0.95x wrk and 2.05x / 1.65x curl; 16 conns 1.25x / 0.79x wrk and
#   2.29x / 1.99x curl (single rounds 0.73-1.09x wrk on 1 conn): too noisy to rank.
#   then (session 5, no change to the request path): each round also prints the clients' CPU
#   per request (ours and libcurl from bench_http after its warm-up, wrk from its process
#   times) and the ours/curl ratio this CPU would allow if our client spent no user time at
#   all. Idle machine, two ROUNDS=5 runs of 3 s, medians of 10 rounds: 1 conn 0.92x wrk,
#   1.82x curl (rounds 1.59-2.25x), CPU 34 / 32 / 83 us (ours / wrk / curl), ceiling 2.40x;
#   16 conns 0.99x wrk, 2.02x curl, CPU 26 / 27 / 86 us. After the pool checked every
#   reused connection for stray bytes (one MSG_PEEK recv more per request), four ROUNDS=5
#   runs, medians of 20 rounds: 1 conn 0.90x wrk (0.74-1.23), 1.92x curl (1.78-2.19), CPU
#   34 / 32 / 89 us, ceiling 2.58x; 16 conns 1.00x wrk, 2.34x curl, CPU 27 / 28 / 96 us.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-3}
cpu=${BENCH_CPU:-0}
out=${OIDC_BUILD_ROOT:-$root/build-bench}
build=$out/bench-http
mkdir -p "$out"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASIO_OIDC_BUILD_BENCH=ON \
    -DASIO_OIDC_BUILD_TESTS=OFF -DASIO_OIDC_BUILD_EXAMPLES=OFF >"$build.configure.log" 2>&1 || {
    cat "$build.configure.log"
    exit 1
}
cmake --build "$build" -j2 --target bench_http >/dev/null
bash scripts/make-certs.sh "$out/pki" >/dev/null

ndir=$out/nginx-bench
port=$(NGINX_CPU=$cpu bash scripts/nginx/nginx.sh start "$ndir" "$out/pki")
trap 'bash scripts/nginx/nginx.sh stop "$ndir"' EXIT
url=https://127.0.0.1:$port/json
ca=$out/pki/ca.pem
# The same ~1.9 KB token shape as bench_http.cpp uses.
token="Bearer $(head -c 1880 /dev/zero | tr '\0' 'a')"

tmp=$out/bench-http.tmp
mkdir -p "$tmp"
# Each client's CPU per request (user, sys, in us) goes to $tmp/<who>.<conns>.cpu: bench_http
# measures its own after the warm-up; wrk's is its process's CPU over its request count.
cpu_of() { awk '/cpu per request/ { gsub(/[(),]/, ""); print $8, $10 }' "$1"; }
ours() {
    timeout $((secs + 30)) taskset -c "$cpu" "$build/bench/bench_http" ours "$url" "$ca" "$1" "$secs" \
        2>"$tmp/ours.err"
    cpu_of "$tmp/ours.err" >"$tmp/ours.$1.cpu"
}
curl_rps() {
    timeout $((secs + 30)) taskset -c "$cpu" "$build/bench/bench_http" curl "$url" "$ca" "$1" "$secs" \
        2>"$tmp/curl.err"
    cpu_of "$tmp/curl.err" >"$tmp/curl.$1.cpu"
}
wrk_rps() {
    local TIMEFORMAT='%U %S'
    { time timeout $((secs + 30)) taskset -c "$cpu" wrk -t1 -c"$1" -d"${secs}s" \
        -H "Authorization: $token" -H "Accept: application/json" "$url" >"$tmp/wrk.out"; } \
        2>"$tmp/wrk.time"
    awk '/Requests\/sec/ {printf "%.0f\n", $2}' "$tmp/wrk.out"
    read -r u s <"$tmp/wrk.time"
    awk -v u="$u" -v s="$s" '/requests in/ { printf "%.1f %.1f\n", u * 1e6 / $1, s * 1e6 / $1 }' \
        "$tmp/wrk.out" >"$tmp/wrk.$1.cpu"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
cpu_sum() { awk '{ printf "%.1f", $1 + $2 }' "$1"; }
# What ours/curl would be if our client spent no user-space CPU at all (its HTTP code and
# OpenSSL's TLS records): each request's time on the shared CPU is 1/rps; take away our
# user time, keep our system time (2 syscalls, loopback TCP, the switch back from nginx) and
# nginx's share. The ratio cannot exceed this on this machine.
ceiling() { # ours_rps curl_rps ours_cpu_file
    read -r u _ <"$3"
    awk -v o="$1" -v c="$2" -v u="$u" 'BEGIN { t = 1e6 / o - u; if (c > 0 && t > 0)
        printf "%.2f", (1e6 / c) / t; else print "n/a" }'
}

# ROUNDS=N repeats the whole measurement N times (each line is one round, the last lines
# are the medians of the per-round ratios): the machine is shared, one round is noisy.
rounds=${ROUNDS:-1}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A o w c rw rc rcpu rceil oc cc wc
for r in $(seq "$rounds"); do
    for n in 1 16; do
        o[$n]=$(ours "$n")
        w[$n]=$(wrk_rps "$n")
        c[$n]=$(curl_rps "$n")
        oc[$n]=$(cpu_sum "$tmp/ours.$n.cpu")
        cc[$n]=$(cpu_sum "$tmp/curl.$n.cpu")
        wc[$n]=$(cpu_sum "$tmp/wrk.$n.cpu")
        rw[$n]="${rw[$n]:-} $(ratio "${o[$n]}" "${w[$n]}")"
        rc[$n]="${rc[$n]:-} $(ratio "${o[$n]}" "${c[$n]}")"
        rcpu[$n]="${rcpu[$n]:-} $(ratio "${cc[$n]}" "${oc[$n]}")"
        rceil[$n]="${rceil[$n]:-} $(ceiling "${o[$n]}" "${c[$n]}" "$tmp/ours.$n.cpu")"
    done
    [ "$rounds" -gt 1 ] && echo "round $r"
    echo "conns ours_req_per_s wrk_req_per_s ratio"
    for n in 1 16; do echo "$n ${o[$n]} ${w[$n]} $(ratio "${o[$n]}" "${w[$n]}")"; done
    echo "conns ours_req_per_s curl_req_per_s ratio"
    for n in 1 16; do echo "$n ${o[$n]} ${c[$n]} $(ratio "${o[$n]}" "${c[$n]}")"; done
    echo "conns ours_cpu_us wrk_cpu_us curl_cpu_us curl/ours ours/curl_ceiling (client CPU per request)"
    for n in 1 16; do
        echo "$n ${oc[$n]} ${wc[$n]} ${cc[$n]} $(ratio "${cc[$n]}" "${oc[$n]}")" \
            "$(ceiling "${o[$n]}" "${c[$n]}" "$tmp/ours.$n.cpu")"
    done
done
if [ "$rounds" -gt 1 ]; then
    for n in 1 16; do
        echo "median of $rounds: conns $n ours/wrk $(tr ' ' '\n' <<<"${rw[$n]}" | grep . | median)" \
            "ours/curl $(tr ' ' '\n' <<<"${rc[$n]}" | grep . | median)" \
            "cpu curl/ours $(tr ' ' '\n' <<<"${rcpu[$n]}" | grep . | median)" \
            "ours/curl_ceiling $(tr ' ' '\n' <<<"${rceil[$n]}" | grep . | median)"
    done
fi
