#!/usr/bin/env bash
# Starts or stops a private nginx for the HTTP client tests and benchmark.
#   scripts/nginx/nginx.sh start DIR PKI_DIR   -> prints the port; DIR/port holds it too
#   scripts/nginx/nginx.sh stop DIR
# Set NGINX_CPU=N to pin it to one CPU (taskset), for the benchmark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=$1
dir=$2
case $cmd in
start)
    pki=$3
    mkdir -p "$dir/tmp"
    dir=$(cd "$dir" && pwd)
    pki=$(cd "$pki" && pwd)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    sed -e "s|@PREFIX@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@CERT@|$pki/server-chain.pem|g" \
        -e "s|@KEY@|$pki/server.key|g" "$here/nginx.conf.in" >"$dir/nginx.conf"
    pin=()
    [ -n "${NGINX_CPU:-}" ] && pin=(taskset -c "$NGINX_CPU")
    "${pin[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/master.pid"
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port" >"$dir/port"
            echo "$port"
            exit 0
        fi
        kill -0 "$(cat "$dir/master.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "nginx did not start:" >&2
    cat "$dir/error.log" "$dir/stdout.log" >&2 || true
    exit 1
    ;;
stop)
    [ -f "$dir/master.pid" ] || exit 0
    pid=$(cat "$dir/master.pid")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/master.pid" "$dir/port"
    ;;
*)
    echo "usage: $0 start DIR PKI_DIR | stop DIR" >&2
    exit 2
    ;;
esac
