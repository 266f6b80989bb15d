#!/usr/bin/env bash
# The OAuth verbs of the asio-oidc command-line tool against the running test provider (its
# OIDC_TEST_* variables exported). Usage: cli_oauth.sh PATH/TO/asio-oidc
# Prints PASS/FAIL per check; exits non-zero on any failure.
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() { # name, command...
    local name=$1
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then
        echo "PASS $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        sed 's/^/  /' "$tmp/err" | head -5
        fail=$((fail + 1))
    fi
}
fails() { ! "$@"; }
ca=(--cafile "$OIDC_TEST_CA" --timeout 20)
printf '%s' "$OIDC_TEST_BASIC_CLIENT_SECRET" >"$tmp/secret"
printf '%s\n' "$OIDC_TEST_PASSWORD" >"$tmp/password"
printf 'wrong-password\n' >"$tmp/bad"
basic=(--issuer "$OIDC_TEST_ISSUER" --client-id "$OIDC_TEST_BASIC_CLIENT_ID" --client-secret-file "$tmp/secret")

check "discover" bash -c '"$0" discover "${@}" | grep -q "\"token_endpoint\":\"$OIDC_TEST_TOKEN_ENDPOINT\""' "$bin" "${ca[@]}" "$OIDC_TEST_ISSUER"
check "discover: issuer mismatch" fails "$bin" discover "${ca[@]}" "$OIDC_TEST_ISSUER/"
check "jwks from issuer" bash -c '"$0" jwks "${@}" | grep -q "\"kty\":\"RSA\""' "$bin" "${ca[@]}" "$OIDC_TEST_ISSUER"
check "jwks from URL" bash -c '"$0" jwks "${@}" | grep -q "\"keys\":\[{"' "$bin" "${ca[@]}" "$OIDC_TEST_JWKS_URI"
check "token: password, public client" bash -c '"$0" token "${@}" >"'"$tmp"'/t.json" && grep -q refresh_expires_in "'"$tmp"'/t.json"' "$bin" "${ca[@]}" \
    --issuer "$OIDC_TEST_ISSUER" --client-id "$OIDC_TEST_PUBLIC_CLIENT_ID" --grant password \
    --username "$OIDC_TEST_USER" --password-file "$tmp/password"
check "token: wrong password is invalid_grant" bash -c 'out=$("$0" token "${@}" 2>&1); [[ $out == *"error: invalid_grant"* && $out != *wrong-password* ]]' "$bin" "${ca[@]}" \
    --issuer "$OIDC_TEST_ISSUER" --client-id "$OIDC_TEST_PUBLIC_CLIENT_ID" --grant password \
    --username "$OIDC_TEST_USER" --password-file "$tmp/bad"
check "token: client_credentials, basic" bash -c '"$0" token "${@}" | grep -q access_token' "$bin" "${ca[@]}" "${basic[@]}" --grant client_credentials
node -e 'const t=JSON.parse(require("fs").readFileSync(process.argv[1]));require("fs").writeFileSync(process.argv[2],t.refresh_token);require("fs").writeFileSync(process.argv[3],t.access_token)' \
    "$tmp/t.json" "$tmp/rt" "$tmp/at" 2>/dev/null || true
check "token: refresh_token" bash -c '"$0" token "${@}" | grep -q access_token' "$bin" "${ca[@]}" \
    --issuer "$OIDC_TEST_ISSUER" --client-id "$OIDC_TEST_PUBLIC_CLIENT_ID" --grant refresh_token \
    --refresh-token-file "$tmp/rt"
"$bin" token "${ca[@]}" "${basic[@]}" --grant password --username "$OIDC_TEST_USER" \
    --password-file "$tmp/password" --scope "openid profile" >"$tmp/t2.json" 2>/dev/null
json_member() { # file member -> file.member
    node -e 'const t=JSON.parse(require("fs").readFileSync(process.argv[1]));require("fs").writeFileSync(process.argv[1]+"."+process.argv[2],t[process.argv[2]]||"")' "$1" "$2" 2>/dev/null || true
}
json_member "$tmp/t2.json" refresh_token
# The provider's JWT access tokens cannot be introspected or revoked there (unsupported_token_type);
# its refresh tokens (opaque) can.
check "introspect: active" bash -c '"$0" introspect "${@}" --hint refresh_token - <"'"$tmp"'/t2.json.refresh_token" | grep -q "\"active\":true"' "$bin" "${ca[@]}" "${basic[@]}"
check "revoke" "$bin" revoke "${ca[@]}" "${basic[@]}" --hint refresh_token "$(cat "$tmp/t2.json.refresh_token" 2>/dev/null)"
check "introspect after revoke: inactive" bash -c '"$0" introspect "${@}" - <"'"$tmp"'/t2.json.refresh_token" | grep -q "\"active\":false"' "$bin" "${ca[@]}" "${basic[@]}"
# Device flow (approved through the provider's test hook), then userinfo with its opaque token.
"$bin" token "${ca[@]}" --issuer "$OIDC_TEST_ISSUER" --client-id "$OIDC_TEST_DEVICE_CLIENT_ID" \
    --grant device_code --scope "openid profile email" >"$tmp/dev.json" 2>"$tmp/dev.err" &
dev_pid=$!
code=
for _ in $(seq 1 100); do
    code=$(sed -n 's/^user code: //p' "$tmp/dev.err")
    [ -n "$code" ] && break
    sleep 0.2
done
curl -s --max-time 10 --cacert "$OIDC_TEST_CA" -X POST \
    "$OIDC_TEST_BASE_URL/test/device/approve?user_code=$code" >/dev/null
check "token: device_code" wait "$dev_pid"
json_member "$tmp/dev.json" access_token
check "userinfo" bash -c '"$0" userinfo "${@}" - <"'"$tmp"'/dev.json.access_token" | grep -q "\"sub\":\"$OIDC_TEST_USER_SUB\""' "$bin" "${ca[@]}" --issuer "$OIDC_TEST_ISSUER"
check "userinfo: bad token is invalid_token" bash -c '"$0" userinfo "${@}" not-a-token 2>&1 | grep -q "error: invalid_token"' "$bin" "${ca[@]}" --issuer "$OIDC_TEST_ISSUER"
check "usage error exits 2" bash -c '"$0" token --grant nope >/dev/null 2>&1; [ $? = 2 ]' "$bin"
# call: a protected API through a session - the resource_server example (seed 003) when built.
rs=$(dirname "$bin")/../resource_server/resource_server
if [ -x "$rs" ]; then
    pki=$(dirname "$OIDC_TEST_CA")
    rs_args=(--issuer "$OIDC_TEST_ISSUER" --jwks-url "$OIDC_TEST_JWKS_URI" --cafile "$OIDC_TEST_CA")
    [ -n "${OIDC_TEST_AUDIENCE:-}" ] && rs_args+=(--audience "$OIDC_TEST_AUDIENCE")
    [ -n "${OIDC_TEST_SIGNING_ALG:-}" ] && rs_args+=(--algs "$OIDC_TEST_SIGNING_ALG")
    "$rs" "${rs_args[@]}" --cert "$pki/server.pem" --key "$pki/server.key" \
        --port-file "$tmp/api.port" >"$tmp/api.log" 2>&1 &
    rs_pid=$!
    for _ in $(seq 1 100); do
        [ -s "$tmp/api.port" ] && break
        sleep 0.1
    done
    api="https://127.0.0.1:$(cat "$tmp/api.port" 2>/dev/null)/v4/account/97862/dossiers"
    public=(--issuer "$OIDC_TEST_ISSUER" --client-id "$OIDC_TEST_PUBLIC_CLIENT_ID" --grant password
        --username "$OIDC_TEST_USER" --password-file "$tmp/password")
    check "call: 20 concurrent calls share one token" bash -c 'out=$("$0" call GET "$1" "${@:2}" --repeat 20 2>&1) &&
        [[ $out == *"calls: 20, token requests: 1, highest status: 200"* ]]' "$bin" "$api" "${ca[@]}" "${public[@]}"
    check "call: wrong password is invalid_grant" bash -c 'out=$("$0" call GET "$1" "${@:2}" 2>&1);
        [[ $? = 1 && $out == *"error: invalid_grant"* ]]' "$bin" "$api" "${ca[@]}" \
        --issuer "$OIDC_TEST_ISSUER" --client-id "$OIDC_TEST_PUBLIC_CLIENT_ID" --grant password \
        --username "$OIDC_TEST_USER" --password-file "$tmp/bad"
    check "call: usage without URL exits 2" bash -c '"$0" call GET >/dev/null 2>&1; [ $? = 2 ]' "$bin"
    kill "$rs_pid" 2>/dev/null
    wait "$rs_pid" 2>/dev/null
else
    echo "FAIL call: resource_server example not built at $rs"
    fail=$((fail + 1))
fi
echo "cli_oauth: $pass passed, $fail failed"
[ "$fail" = 0 ]
