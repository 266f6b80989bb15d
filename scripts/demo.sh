#!/usr/bin/env bash
# The asio-oidc demo: on a fresh Debian 12 machine, installs what is missing, builds the
# examples (Release, build-demo/), starts the local OpenID provider (npm oidc-provider on
# 127.0.0.1, short access-token lifetime) and the example protected API (resource_server),
# then runs the client examples end to end and prints what happened. Stops everything on exit.
# No configuration needed.
#
# Usage: scripts/demo.sh [--skip-deps] [--no-build] [--build-dir DIR] [--run-dir DIR] [--check]
#                        [--issuer URL] [--client-id ID] [--username U] [--password-file F]
#                        [--cafile PEM] [--audience AUD]
#
# Pointed at a real provider (--issuer or OIDC_ISSUER), it starts no local provider and runs
# keycloak_password_client (password grant with a public client, as in seed 000) against it,
# with the local resource_server checking the tokens through the provider's keys endpoint.
# Environment (same meaning as the flags):
#   OIDC_ISSUER          issuer, e.g. https://sso.example.org/auth/realms/myrealm
#   OIDC_CLIENT_ID       public client allowed the password grant (default ea-api-edge)
#   OIDC_USERNAME        user name
#   OIDC_PASSWORD_FILE   file whose first line is the password (never on the command line)
#   OIDC_CAFILE          extra CA certificates (PEM) for the provider (default: system store)
#   OIDC_AUDIENCE        the "aud" the API requires in access tokens (default eat-api)
#   OIDC_TOKEN_ENDPOINT, OIDC_JWKS_URL  when not the Keycloak layout under the issuer
#   DEMO_AT_TTL          access-token lifetime of the local provider, seconds (default 10)
# --check (the "examples" stage of scripts/test.sh) adds assertions: the API's 401 answers,
# the examples' outputs, the provider's token-request counts, no secret in any log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

skip_deps=0
no_build=0
check=0
build=${DEMO_BUILD_DIR:-$root/build-demo}
run=""
while [ $# -gt 0 ]; do
    case $1 in
    --skip-deps) skip_deps=1 ;;
    --no-build) no_build=1 ;;
    --check) check=1 ;;
    --build-dir) build=$2; shift ;;
    --run-dir) run=$2; shift ;;
    --issuer) export OIDC_ISSUER=$2; shift ;;
    --client-id) export OIDC_CLIENT_ID=$2; shift ;;
    --username) export OIDC_USERNAME=$2; shift ;;
    --password-file) export OIDC_PASSWORD_FILE=$2; shift ;;
    --cafile) export OIDC_CAFILE=$2; shift ;;
    --audience) export OIDC_AUDIENCE=$2; shift ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
run=${run:-$build/demo}
mkdir -p "$run"

heading() { printf '\n\033[1m#### %s\033[0m\n' "$*"; }

examples=(resource_server keycloak_password_client authorization_code_login client_credentials
          device_flow timeouts_and_cancellation)

if [ $skip_deps -eq 0 ]; then
    heading "Dependencies (scripts/deps.sh)"
    bash scripts/deps.sh
fi

if [ $no_build -eq 0 ]; then
    heading "Build the examples (Release, $build)"
    targets=()
    for e in "${examples[@]}"; do
        [ -f "examples/$e/CMakeLists.txt" ] && targets+=("$e")
    done
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$run/configure.log" 2>&1 || {
        cat "$run/configure.log"
        exit 1
    }
    cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
fi
bin() { echo "$build/examples/$1/$1"; }

api_pid=""
api2_pid=""
local_provider=0
cleanup() {
    local p
    for p in $api_pid $api2_pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ $local_provider -eq 1 ]; then
        bash "$root/scripts/provider.sh" stop "$run/provider" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${OIDC_ISSUER:-}" ]; then
    heading "Start the local OpenID provider (access tokens live ${DEMO_AT_TTL:-10} s)"
    local_provider=1
    OIDC_TEST_AT_TTL=${DEMO_AT_TTL:-10} bash scripts/provider.sh start "$run/provider"
    export OIDC_TEST_ENV=$run/provider/provider.env
    api_cert=$run/provider/pki/server.pem
    api_key=$run/provider/pki/server.key
    client_cafile=$run/provider/pki/ca.pem
else
    heading "Using the OpenID provider at $OIDC_ISSUER"
    unset OIDC_TEST_ENV
    # The local API needs a certificate: a demo CA, trusted by the clients next to the
    # provider's CA (or the system store).
    bash scripts/make-certs.sh "$run/pki"
    api_cert=$run/pki/server.pem
    api_key=$run/pki/server.key
    client_cafile=$run/ca-bundle.pem
    { [ -n "${OIDC_CAFILE:-}" ] && cat "$OIDC_CAFILE"; cat "$run/pki/ca.pem"; } >"$client_cafile"
fi

heading "Start the protected API (examples/resource_server, seed 003)"
rm -f "$run/api.port"
"$(bin resource_server)" --cert "$api_cert" --key "$api_key" --port-file "$run/api.port" \
    >"$run/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do
    [ -s "$run/api.port" ] && break
    kill -0 "$api_pid" 2>/dev/null || break
    sleep 0.2
done
if [ ! -s "$run/api.port" ]; then
    echo "demo: the resource server did not start:"
    cat "$run/api.log"
    exit 1
fi
api="https://127.0.0.1:$(cat "$run/api.port")"
cat "$run/api.log"
export API_BASE_URL=$api

declare -A result
failed=0
run_example() { # name, args...
    local name=$1
    shift
    if [ ! -x "$(bin "$name")" ]; then
        echo "(not built: $name)"
        result[$name]="not built"
        return 0
    fi
    local rc=0
    OIDC_CAFILE=$client_cafile timeout 120 "$(bin "$name")" "$@" 2>&1 | tee "$run/$name.log" ||
        rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
        result[$name]=ok
    else
        result[$name]="FAILED (exit $rc)"
        failed=1
    fi
}

heading "Password grant + API calls through a session (examples/keycloak_password_client, seed 000)"
run_example keycloak_password_client

if [ $local_provider -eq 1 ]; then
    heading "Authorization code + PKCE login, userinfo, logout URL (examples/authorization_code_login, seed 004)"
    run_example authorization_code_login --headless
    heading "Client credentials, introspection, revocation (examples/client_credentials)"
    run_example client_credentials
    heading "Device authorization grant (examples/device_flow)"
    run_example device_flow --approve-as-test-user
    heading "Timeouts and cancellation with a slow token endpoint (examples/timeouts_and_cancellation)"
    run_example timeouts_and_cancellation
else
    echo
    echo "(authorization_code_login, client_credentials, device_flow and timeouts_and_cancellation"
    echo " need clients registered for them: run them by hand with their --help against your"
    echo " provider)"
fi

heading "What the API saw"
curl -s --cacert "$client_cafile" "$api/admin/stats" || true
echo

if [ $check -eq 1 ]; then
    heading "Checks"
    fails=0
    expect() { # description, command...
        local what=$1
        shift
        if "$@"; then
            echo "  ok    $what"
        else
            echo "  FAIL  $what"
            fails=$((fails + 1))
        fi
    }
    absent() { ! "$@"; }
    fired_at_bound() { # log, prefix, bound: "PREFIX N ms (bound B ms)" with B <= N < B + 800
        local n
        n=$(sed -n "s/.*$2 \([0-9][0-9]*\) ms (bound $3 ms).*/\1/p" "$1" | head -n 1)
        [ -n "$n" ] && [ "$n" -ge "$3" ] && [ "$n" -lt $(($3 + 800)) ]
    }
    headers() { # curl args...: the response head, CRs removed
        curl -s -o /dev/null -D - --max-time 10 --cacert "$client_cafile" "$@" | tr -d '\r'
    }
    dossiers=$api/v4/account/42/dossiers
    h=$(headers "$dossiers")
    expect "no token: 401" grep -q '^HTTP/1.1 401' <<<"$h"
    expect "no token: WWW-Authenticate: Bearer realm=\"eat-api\" without an error code" \
        grep -qx 'WWW-Authenticate: Bearer realm="eat-api"' <<<"$h"
    h=$(headers -H 'Authorization: Bearer not.a.jwt' "$dossiers")
    expect "garbage token: 401 invalid_token with a description" \
        grep -q '^WWW-Authenticate: Bearer realm="eat-api", error="invalid_token", error_description="[^"]' <<<"$h"
    # {"alg":"none","typ":"at+jwt"} . {"sub":"mallory","aud":"eat-api"} . (no signature)
    none='eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJtYWxsb3J5IiwiYXVkIjoiZWF0LWFwaSJ9.'
    h=$(headers -H "Authorization: Bearer $none" "$dossiers")
    expect "alg none: 401 invalid_token" grep -q 'error="invalid_token"' <<<"$h"
    h=$(headers -H 'Authorization: Basic YTpi' "$dossiers")
    expect "not a Bearer token: 401 invalid_request" grep -q 'error="invalid_request"' <<<"$h"
    h=$(headers -X POST "$dossiers")
    expect "POST on the dossiers: 405" grep -q '^HTTP/1.1 405' <<<"$h"
    big=$(head -c 20000 /dev/zero | tr '\0' a)
    h=$(headers -H "X-Big: $big" "$dossiers" || true)
    expect "a 20 KB request head is not served" absent grep -q '^HTTP/1.1 200' <<<"$h"
    stats=$(curl -s --max-time 10 --cacert "$client_cafile" "$api/admin/stats")
    expect "the API refused the revoked token once" test "$(jq .revoked <<<"$stats")" -ge 1
    k=$run/keycloak_password_client.log
    expect "password client: RESULT: OK" grep -q '^RESULT: OK' "$k"
    expect "password client: 50 concurrent calls served twice" \
        test "$(grep -c '50 x 200, 0 failed,' "$k")" -eq 2
    expect "password client: one token request after expiry" \
        grep -q '1 token request(s) for all of them' "$k"
    expect "password client: the 401 replay happened" grep -q '200 after the replay' "$k"
    if [ $local_provider -eq 1 ]; then
        # shellcheck disable=SC1090
        base=$(grep '^OIDC_TEST_BASE_URL=' "$OIDC_TEST_ENV" | cut -d= -f2-)
        pstats=$(curl -s --max-time 10 --cacert "$client_cafile" "$base/test/stats")
        expect "provider: exactly one password grant" \
            test "$(jq '.token.grant_types.password // 0' <<<"$pstats")" -eq 1
        expect "provider: two refreshes (the 401 replay and the expiry)" \
            test "$(jq '.token.grant_types.refresh_token // 0' <<<"$pstats")" -eq 2
        password=$(grep '^OIDC_TEST_PASSWORD=' "$OIDC_TEST_ENV" | cut -d= -f2-)
        # The OAuthSD variant (seed 003): a second API reading the per-client keys URL
        # ".../certs?aud=ea-api-edge" accepts a token of that client.
        rm -f "$run/api2.port"
        "$(bin resource_server)" --per-client-keys ea-api-edge --cert "$api_cert" \
            --key "$api_key" --port-file "$run/api2.port" >"$run/api2.log" 2>&1 &
        api2_pid=$!
        for _ in $(seq 100); do
            [ -s "$run/api2.port" ] && break
            sleep 0.2
        done
        user=$(grep '^OIDC_TEST_USER=' "$OIDC_TEST_ENV" | cut -d= -f2-)
        token_endpoint=$(grep '^OIDC_TEST_TOKEN_ENDPOINT=' "$OIDC_TEST_ENV" | cut -d= -f2-)
        at=$(curl -s --max-time 10 --cacert "$client_cafile" -d grant_type=password \
            -d client_id=ea-api-edge --data-urlencode "username=$user" \
            --data-urlencode "password=$password" "$token_endpoint" | jq -r .access_token)
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$client_cafile" \
            -H "Authorization: Bearer $at" \
            "https://127.0.0.1:$(cat "$run/api2.port" 2>/dev/null)/v4/account/42/dossiers" || true)
        expect "per-client keys (?aud=ea-api-edge): the token is accepted" test "$code" = 200
        expect "per-client keys: the API read .../certs?aud=ea-api-edge" \
            grep -q 'certs?aud=ea-api-edge' "$run/api2.log"
        t=$run/timeouts_and_cancellation.log
        if [ "${result[timeouts_and_cancellation]:-}" != "not built" ]; then
            expect "timeouts: the per-wait timeout fired at its bound (300 ms)" \
                fired_at_bound "$t" 'per-wait timeout: gave up after' 300
            expect "timeouts: the renewal went on for the next caller" \
                grep -q 'the renewal went on: token after' "$t"
            expect "timeouts: the per-call timeout fired at its bound (500 ms) with timed_out" \
                fired_at_bound "$t" 'per-call timeout: timed_out after' 500
            expect "timeouts: the cancelled waiter got operation_aborted, the others the token" \
                grep -q 'cancelled waiter: operation_aborted after [0-9]* ms; others: 2 of 2 got' "$t"
            expect "timeouts: the token endpoint was slowed down (delay hook)" \
                grep -q 'now answers token requests after 1500 ms' "$t"
        fi
        expect "no password in any log" absent grep -qF -- "$password" "$run"/*.log
        for k in OIDC_TEST_BASIC_CLIENT_SECRET OIDC_TEST_WEB_CLIENT_SECRET; do
            secret=$(grep "^$k=" "$OIDC_TEST_ENV" | cut -d= -f2-)
            expect "no $k in any log" absent grep -qF -- "$secret" "$run"/*.log
        done
    fi
    expect "no whole JWT in any example log" \
        absent grep -qE 'eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.' "$run"/*.log
    for e in authorization_code_login client_credentials device_flow timeouts_and_cancellation; do
        if [ "${result[$e]:-}" = ok ]; then
            expect "$e: RESULT: OK" grep -q '^RESULT: OK' "$run/$e.log"
        fi
    done
    [ $fails -eq 0 ] || failed=1
fi

heading "Summary"
for e in keycloak_password_client authorization_code_login client_credentials device_flow \
    timeouts_and_cancellation; do
    [ -n "${result[$e]:-}" ] && printf '  %-26s %s\n' "$e" "${result[$e]}"
done
if [ $failed -ne 0 ]; then
    echo "demo: FAILED (logs in $run)"
    exit 1
fi
echo "demo: all examples succeeded (logs in $run)"
