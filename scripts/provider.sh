#!/usr/bin/env bash
# Starts, stops and reports the test OpenID provider (tests/integration/provider: panva's
# oidc-provider, configured Keycloak-style) that the integration tests run against.
#
# Usage: scripts/provider.sh start DIR    install npm dependencies when missing, make the test
#                                         PKI in DIR/pki and a private_key_jwt key, start the
#                                         provider in the background (127.0.0.1, free ports),
#                                         wait until discovery answers, write DIR/provider.env
#        scripts/provider.sh stop DIR     stop it (DIR/provider.pid)
#        scripts/provider.sh status DIR   exit 0 when it runs and answers
#        scripts/provider.sh env DIR      print DIR/provider.env as shell `export` lines
#
# DIR/provider.env holds KEY=VALUE lines (value = everything after the first '=', not
# shell-quoted: load it with `eval "$(scripts/provider.sh env DIR)"` or a read loop).
# DIR/provider.json holds the same as a JSON object. The environment variables the provider
# reads (OIDC_TEST_AT_TTL, OIDC_TEST_RT_TTL, OIDC_TEST_ID_TTL, OIDC_TEST_DEVICE_TTL,
# OIDC_TEST_RT_ROTATION, OIDC_TEST_ALWAYS_JWT, OIDC_TEST_LISTEN_PORT, OIDC_TEST_LISTEN_HTTP_PORT,
# OIDC_TEST_PKJWT_JWKS, OIDC_TEST_PKJWT_KEY) are passed through from the caller.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
app=$root/tests/integration/provider
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop|status|env DIR" >&2
    exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile=$dir/provider.pid
envfile=$dir/provider.env
logfile=$dir/provider.log

running() {
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

env_value() { # KEY -> value from provider.env
    sed -n "s/^$1=//p" "$envfile" | head -n 1
}

answers() {
    [ -f "$envfile" ] || return 1
    curl -sf --max-time 2 --cacert "$dir/pki/ca.pem" -o /dev/null "$(env_value OIDC_TEST_DISCOVERY_URL)"
}

check_node() { # oidc-provider 9 needs Node.js >= 20.19 (URL.parse, crypto.hash)
    command -v node >/dev/null || {
        echo "provider: node is missing (scripts/deps.sh installs nodejs)" >&2
        return 1
    }
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' || {
        echo "provider: Node.js $(node --version) is too old, 20.19 or newer is needed" >&2
        return 1
    }
}

install_deps() {
    # npm ci when node_modules does not match the committed package-lock.json (hash stamp),
    # under a lock: several test runs may start providers at once.
    local stamp=$app/node_modules/.asio-oidc-lock.sha256 want
    want=$(sha256sum "$app/package-lock.json" | cut -d' ' -f1)
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
    command -v npm >/dev/null || {
        echo "provider: npm is missing (scripts/deps.sh installs nodejs and npm)" >&2
        return 1
    }
    (
        flock -w 300 9 || {
            echo "provider: timed out waiting for another npm ci" >&2
            exit 1
        }
        [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0
        echo "provider: npm ci in $app"
        cd "$app" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error &&
            echo "$want" >"$stamp"
    ) 9>"${TMPDIR:-/tmp}/asio-oidc-provider-npm.lock"
}

start() {
    if running && answers; then
        echo "provider: already running (pid $(cat "$pidfile"))"
        return 0
    fi
    check_node
    install_deps
    bash "$root/scripts/make-certs.sh" "$dir/pki" >/dev/null
    # Default private_key_jwt client key (the tests may write their own JWKS instead).
    local pk=${OIDC_TEST_PKJWT_KEY:-$dir/pkjwt.key}
    if [ ! -f "$pk" ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pk" 2>/dev/null
        chmod 600 "$pk"
    fi
    rm -f "$envfile" "$dir/provider.json"
    # setsid: the provider gets its own process group and outlives this script.
    setsid node "$app/server.mjs" --state "$dir" >"$logfile" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pidfile"
    # Bounded wait (20 s) until discovery answers.
    local i
    for i in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "provider: exited during start-up; log:" >&2
            cat "$logfile" >&2
            rm -f "$pidfile"
            return 1
        fi
        if answers; then
            echo "provider: $(env_value OIDC_TEST_ISSUER) (pid $pid, $((i * 200)) ms)"
            return 0
        fi
        sleep 0.2
    done
    echo "provider: no answer from discovery within 20 s; log:" >&2
    cat "$logfile" >&2
    stop
    return 1
}

stop() {
    if [ ! -f "$pidfile" ]; then
        echo "provider: not running"
        return 0
    fi
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.1
        fi
    fi
    rm -f "$pidfile"
    echo "provider: stopped (pid $pid)"
}

status() {
    if running && answers; then
        echo "provider: running (pid $(cat "$pidfile")), issuer $(env_value OIDC_TEST_ISSUER)"
        return 0
    fi
    echo "provider: not running"
    return 1
}

print_env() {
    [ -f "$envfile" ] || {
        echo "provider: no $envfile (not started?)" >&2
        return 1
    }
    local key value
    while IFS= read -r line; do
        key=${line%%=*}
        value=${line#*=}
        printf 'export %s=%q\n' "$key" "$value"
    done <"$envfile"
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
env) print_env ;;
*)
    echo "usage: $0 start|stop|status|env DIR" >&2
    exit 2
    ;;
esac
