#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs are single-quoted on purpose
# Smoke test of the test OpenID provider (tests/integration/provider): starts it in a temp
# dir with scripts/provider.sh and checks, with curl as the only HTTP client (node only parses
# JSON and signs the test assertions), every feature the C++ integration tests rely on. Prints
# PASS/FAIL per check, exits non-zero on any failure. Bounded: every curl has --max-time.
#
# Usage: tests/integration/provider_smoke.sh [-k]   (-k keeps the temp dir)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
keep=0
[ "${1:-}" = "-k" ] && keep=1
dir=$(mktemp -d "${TMPDIR:-/tmp}/oidc-provider-smoke.XXXXXX")
t_start=$(date +%s%N)

cleanup() {
    bash "$root/scripts/provider.sh" stop "$dir/p2" >/dev/null 2>&1 || true
    bash "$root/scripts/provider.sh" stop "$dir" >/dev/null 2>&1 || true
    if [ $keep -eq 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # (so that a timeout still runs the cleanup: the providers run in their own session)

passed=0
failed=0
why=""
check() { # name, function...
    local name=$1
    shift
    why=""
    local t0
    t0=$(date +%s%N)
    if "$@"; then
        passed=$((passed + 1))
        echo "PASS $name ($((($(date +%s%N) - t0) / 1000000)) ms)"
    else
        failed=$((failed + 1))
        echo "FAIL $name${why:+: $why} ($((($(date +%s%N) - t0) / 1000000)) ms)"
    fi
}
fail() {
    why=$*
    return 1
}

# ---- helpers -------------------------------------------------------------------------------
# node only checks and makes signatures; JSON is read with jq.
cat >"$dir/h.mjs" <<'JS'
// verify TOKEN JWKSFILE: exit 0 if the signature (RS256, PS256, ES256, ES384) verifies with
// the key of the header's kid. sign KEYFILE KID JSON: prints an ES256 (EC key) or RS256 compact JWS of JSON.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
const [cmd, a, b, c] = process.argv.slice(2);
const b64 = (s) => Buffer.from(s).toString('base64url');
if (cmd === 'verify') {
  const [h, p, s] = a.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const jwk = JSON.parse(fs.readFileSync(b, 'utf8')).keys.find((k) => k.kid === header.kid);
  const hashes = { RS256: 'sha256', ES256: 'sha256', ES384: 'sha384', PS256: 'sha256' };
  if (!jwk || jwk.alg !== header.alg || !(header.alg in hashes)) process.exit(1);
  const key = { key: crypto.createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' };
  if (header.alg === 'PS256') Object.assign(key, { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  process.exit(crypto.verify(hashes[header.alg], Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')) ? 0 : 1);
} else if (cmd === 'jwks') { // jwks KEYFILE KID: the public JWK Set of a private key PEM
  const jwk = crypto.createPublicKey(fs.readFileSync(a)).export({ format: 'jwk' });
  process.stdout.write(JSON.stringify({ keys: [{ ...jwk, kid: b, use: 'sig', alg: jwk.kty === 'EC' ? 'ES256' : 'RS256' }] }));
} else if (cmd === 'sign') {
  const key = crypto.createPrivateKey(fs.readFileSync(a));
  const alg = key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256';
  const input = `${b64(JSON.stringify({ alg, kid: b, typ: 'JWT' }))}.${b64(c)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  process.stdout.write(`${input}.${sig.toString('base64url')}`);
}
JS
h() { node "$dir/h.mjs" "$@"; }
val() { jq -r "$1" "$dir/body"; }             # FILTER -> value from the last response body
is() { jq -e "$@" "$dir/body" >/dev/null 2>&1; } # [jq args] FILTER -> true?
jwt_part() {                                    # TOKEN INDEX -> decoded JSON of that part
    local p
    p=$(cut -d. -f"$2" <<<"$1" | tr '_-' '/+')
    case $((${#p} % 4)) in 2) p+="==" ;; 3) p+="=" ;; esac
    base64 -d <<<"$p" 2>/dev/null
}
jwt_is() { # TOKEN INDEX [jq args] FILTER
    local t=$1 i=$2
    shift 2
    jwt_part "$t" "$i" | jq -e "$@" >/dev/null 2>&1
}
now() { date +%s; }

# curl wrapper: body in $dir/body, headers in $dir/headers, HTTP code in $status.
status=0
req() {
    status=$(curl -s --max-time 10 --cacert "$OIDC_TEST_CA" -o "$dir/body" -D "$dir/headers" \
        -w '%{http_code}' "$@") || status=000
}
token() { req "$OIDC_TEST_TOKEN_ENDPOINT" "$@"; }
header() { sed -n "s/^$1: *//Ip" "$dir/headers" | tr -d '\r' | head -n 1; }
form_encode() { # RFC 6749 appendix B: application/x-www-form-urlencoded
    jq -rn --arg v "$1" '$v | @uri | gsub("%20"; "+")'
}
basic() { # client_id, secret -> curl -u argument with form-encoded parts
    printf '%s:%s' "$(form_encode "$1")" "$(form_encode "$2")"
}
body() { head -c 300 "$dir/body"; }
expect_status() { # code
    [ "$status" = "$1" ] || fail "HTTP $status, expected $1: $(body)"
}
expect_error() { # status, oauth error
    expect_status "$1" || return 1
    [ "$(val .error)" = "$2" ] || fail "error $(val .error), expected $2"
}

# ---- start ---------------------------------------------------------------------------------
t0=$(date +%s%N)
if ! bash "$root/scripts/provider.sh" start "$dir"; then
    echo "FAIL start"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "started in $((($(date +%s%N) - t0) / 1000000)) ms"
while IFS= read -r line; do export "${line%%=*}=${line#*=}"; done <"$dir/provider.env"
iss=$OIDC_TEST_ISSUER
oc=$iss/protocol/openid-connect
pid=$OIDC_TEST_PID

# ---- checks --------------------------------------------------------------------------------
c_discovery() {
    req "$iss/.well-known/openid-configuration"
    expect_status 200 || return 1
    [[ $iss =~ ^https://127\.0\.0\.1:[0-9]+/auth/realms/eat_realm$ ]] || fail "issuer shape $iss" || return 1
    local k v
    for kv in "issuer=$iss" "token_endpoint=$oc/token" "authorization_endpoint=$oc/auth" \
        "userinfo_endpoint=$oc/userinfo" "jwks_uri=$oc/certs" \
        "introspection_endpoint=$oc/token/introspect" "revocation_endpoint=$oc/revoke" \
        "end_session_endpoint=$oc/logout" "device_authorization_endpoint=$oc/auth/device"; do
        k=${kv%%=*}
        v=${kv#*=}
        [ "$(val ".$k")" = "$v" ] || fail "$k is $(val ".$k"), expected $v" || return 1
    done
    for g in password client_credentials refresh_token authorization_code \
        urn:ietf:params:oauth:grant-type:device_code urn:ietf:params:oauth:grant-type:token-exchange \
        urn:ietf:params:oauth:grant-type:jwt-bearer; do
        is --arg g "$g" '.grant_types_supported | index($g) != null' || fail "grant $g missing" || return 1
    done
    is '.code_challenge_methods_supported == ["S256"]' || fail "PKCE methods"
}

c_jwks() {
    req "$oc/certs"
    expect_status 200 || return 1
    cp "$dir/body" "$dir/jwks.json"
    is '(.keys | length > 0) and all(.keys[]; .kid != null and .kty == "RSA" and .alg == "RS256" and .d == null)' ||
        fail "bad key set $(body)"
}

c_http_issuer() {
    status=$(curl -s --max-time 10 -o "$dir/body" -w '%{http_code}' "$OIDC_TEST_HTTP_ISSUER/.well-known/openid-configuration") || status=000
    expect_status 200 || return 1
    [[ $OIDC_TEST_HTTP_ISSUER == http://127.0.0.1:*/auth/realms/eat_realm ]] || fail "http issuer shape" || return 1
    [ "$(val .issuer)" = "$OIDC_TEST_HTTP_ISSUER" ] || fail "http issuer $(val .issuer)" || return 1
    [ "$(val .token_endpoint)" = "$OIDC_TEST_HTTP_ISSUER/protocol/openid-connect/token" ] || fail "http token endpoint" || return 1
    status=$(curl -s --max-time 10 -o "$dir/body" -w '%{http_code}' "$OIDC_TEST_HTTP_ISSUER/protocol/openid-connect/token" \
        -d grant_type=password -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "username=$OIDC_TEST_USER" \
        --data-urlencode "password=$OIDC_TEST_PASSWORD") || status=000
    expect_status 200 || return 1
    jwt_is "$(val .access_token)" 2 --arg iss "$OIDC_TEST_HTTP_ISSUER" '.iss == $iss' || fail "http access token iss"
}

password_grant() { # [user password [scope]]
    token -d grant_type=password -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" \
        --data-urlencode "username=${1:-$OIDC_TEST_USER}" --data-urlencode "password=${2:-$OIDC_TEST_PASSWORD}" \
        ${3:+--data-urlencode "scope=$3"}
}

c_password() {
    password_grant "$OIDC_TEST_USER" "$OIDC_TEST_PASSWORD" "openid profile email"
    expect_status 200 || return 1
    cp "$dir/body" "$dir/pw.json"
    local m
    for m in access_token expires_in refresh_token refresh_expires_in token_type scope id_token not-before-policy session_state; do
        is --arg m "$m" 'has($m)' || fail "member $m missing" || return 1
    done
    is --argjson ttl "$OIDC_TEST_AT_TTL" '.token_type == "Bearer" and .expires_in == $ttl and .refresh_expires_in > 0 and .scope == "openid profile email"' ||
        fail "members $(body)" || return 1
    local at idt
    at=$(val .access_token)
    idt=$(val .id_token)
    jwt_is "$at" 1 '.alg == "RS256" and .typ == "at+jwt" and (.kid | length > 0)' || fail "header $(jwt_part "$at" 1)" || return 1
    h verify "$at" "$dir/jwks.json" || fail "signature does not verify with the JWKS" || return 1
    jwt_is "$at" 2 --arg iss "$iss" --arg sub "$OIDC_TEST_USER_SUB" --arg azp "$OIDC_TEST_PUBLIC_CLIENT_ID" \
        --arg aud "$OIDC_TEST_AUDIENCE" --argjson ttl "$OIDC_TEST_AT_TTL" --argjson now "$(now)" \
        '.iss == $iss and .sub == $sub and .azp == $azp and .aud == $aud and .typ == "Bearer"
         and .scope == "openid profile email" and .exp - .iat == $ttl and (.iat - $now | fabs) < 30
         and .preferred_username == "alice" and .realm_access.roles == ["USER", "ADMIN"] and (.jti | length > 0)' ||
        fail "claims $(jwt_part "$at" 2)" || return 1
    h verify "$idt" "$dir/jwks.json" || fail "id token signature" || return 1
    jwt_is "$idt" 2 --arg iss "$iss" --arg sub "$OIDC_TEST_USER_SUB" --arg aud "$OIDC_TEST_PUBLIC_CLIENT_ID" \
        '.iss == $iss and .sub == $sub and .aud == $aud and .auth_time > 0 and .email == "alice@example.test"' || fail "id token claims $(jwt_part "$idt" 2)"
}

c_password_encoded() { # bob's password needs form-encoding; without openid: no id_token
    password_grant "$OIDC_TEST_USER2" "$OIDC_TEST_PASSWORD2"
    expect_status 200 || return 1
    is '.id_token == null and .scope == "profile email"' || fail "$(body)"
}

c_wrong_password() {
    password_grant "$OIDC_TEST_USER" wrong-password
    expect_error 400 invalid_grant || return 1
    grep -q wrong-password "$dir/body" && fail "password echoed in the error" && return 1
    password_grant nobody x
    expect_error 400 invalid_grant
}

c_client_credentials_basic() {
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" \
        -d grant_type=client_credentials -d 'scope=api:read'
    expect_status 200 || return 1
    jwt_is "$(val .access_token)" 2 --arg c "$OIDC_TEST_BASIC_CLIENT_ID" --arg aud "$OIDC_TEST_AUDIENCE" \
        '.sub == $c and .azp == $c and .aud == $aud and .scope == "api:read"' ||
        fail "claims $(jwt_part "$(val .access_token)" 2)" || return 1
    # The same secret without form-encoding is refused ('+' reads as a space, '% ' is invalid).
    token -u "$OIDC_TEST_BASIC_CLIENT_ID:$OIDC_TEST_BASIC_CLIENT_SECRET" -d grant_type=client_credentials
    [ "$status" = 400 ] || [ "$status" = 401 ] || fail "raw secret: HTTP $status, expected 400 or 401" || return 1
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" wrong)" -d grant_type=client_credentials
    expect_error 401 invalid_client
}

c_client_credentials_post() {
    token -d grant_type=client_credentials -d client_id="$OIDC_TEST_POST_CLIENT_ID" \
        --data-urlencode "client_secret=$OIDC_TEST_POST_CLIENT_SECRET"
    expect_status 200 || return 1
    token -d grant_type=client_credentials -d client_id="$OIDC_TEST_POST_CLIENT_ID" -d client_secret=wrong
    expect_error 401 invalid_client
}

c_refresh_rotation() {
    local rt1 rt2
    rt1=$(jq -r .refresh_token "$dir/pw.json")
    token -d grant_type=refresh_token -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "refresh_token=$rt1"
    expect_status 200 || return 1
    rt2=$(val .refresh_token)
    [ -n "$rt2" ] && [ "$rt2" != null ] && [ "$rt2" != "$rt1" ] || fail "no new refresh token" || return 1
    is --argjson ttl "$OIDC_TEST_AT_TTL" '.refresh_expires_in > 0 and .expires_in == $ttl' || fail "expiries $(body)" || return 1
    jwt_is "$(val .access_token)" 2 --arg azp "$OIDC_TEST_PUBLIC_CLIENT_ID" --arg aud "$OIDC_TEST_AUDIENCE" \
        '.azp == $azp and .aud == $aud' || fail "refreshed access token claims" || return 1
    token -d grant_type=refresh_token -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "refresh_token=$rt1"
    expect_error 400 invalid_grant
}

c_introspection() {
    # A fresh grant (the reuse of rt1 above revoked the whole previous grant).
    password_grant
    expect_status 200 || return 1
    cp "$dir/body" "$dir/pw2.json"
    req "$oc/token/introspect" -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" \
        --data-urlencode "token=$(val .refresh_token)"
    expect_status 200 || return 1
    is --arg c "$OIDC_TEST_PUBLIC_CLIENT_ID" --arg sub "$OIDC_TEST_USER_SUB" --arg iss "$iss" \
        '.active == true and .client_id == $c and .sub == $sub and .iss == $iss and .exp > 0' || fail "$(body)" || return 1
    req "$oc/token/introspect" -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" -d token=not-a-token
    expect_status 200 || return 1
    is '.active == false' || fail "unknown token active"
}

c_revocation() {
    local rt
    rt=$(jq -r .refresh_token "$dir/pw2.json")
    req "$oc/revoke" -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "token=$rt" -d token_type_hint=refresh_token
    expect_status 200 || return 1
    req "$oc/token/introspect" -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "token=$rt"
    is '.active == false' || fail "revoked token still active" || return 1
    token -d grant_type=refresh_token -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "refresh_token=$rt"
    expect_error 400 invalid_grant
}

# Headless authorization code login: the steps the README describes.
redirect_uri=http://127.0.0.1:8123/callback
c_auth_code_login() {
    verifier=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
    local challenge url loc i action state
    challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
    url="$oc/auth?response_type=code&client_id=$OIDC_TEST_WEB_CLIENT_ID&redirect_uri=$(form_encode "$redirect_uri")"
    url+="&scope=openid+profile+email&state=st-123&nonce=no-456&code_challenge=$challenge&code_challenge_method=S256"
    rm -f "$dir/jar"
    code=""
    for i in $(seq 1 8); do
        req -b "$dir/jar" -c "$dir/jar" "$url"
        loc=$(header location)
        if [ "$status" = 200 ] && grep -q 'id="login"' "$dir/body"; then
            action=$(sed -n 's/.*<form id="login" method="post" action="\([^"]*\)".*/\1/p' "$dir/body")
            req -b "$dir/jar" -c "$dir/jar" "$OIDC_TEST_BASE_URL$action" \
                --data-urlencode "username=$OIDC_TEST_USER" --data-urlencode "password=$OIDC_TEST_PASSWORD"
            expect_status 303 || return 1
            loc=$(header location)
        elif [ "$status" != 303 ] && [ "$status" != 302 ]; then
            fail "step $i: HTTP $status $(body)"
            return 1
        fi
        case $loc in
        "$redirect_uri"*)
            code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
            state=$(sed -n 's/.*[?&]state=\([^&]*\).*/\1/p' <<<"$loc")
            [ "$state" = st-123 ] || fail "state $state" || return 1
            [[ $loc == *"iss=$(form_encode "$iss" | sed 's/+/%20/g')"* ]] || fail "no iss in $loc" || return 1
            [ -n "$code" ] || fail "no code in $loc"
            return
            ;;
        /*) url=$OIDC_TEST_BASE_URL$loc ;;
        *) url=$loc ;;
        esac
    done
    fail "no redirect to $redirect_uri after 8 steps"
}

c_code_exchange() {
    [ -n "$code" ] || fail "no code" || return 1
    local auth
    auth=$(basic "$OIDC_TEST_WEB_CLIENT_ID" "$OIDC_TEST_WEB_CLIENT_SECRET")
    token -u "$auth" -d grant_type=authorization_code --data-urlencode "code=$code" \
        --data-urlencode "redirect_uri=$redirect_uri" -d code_verifier=wrong-verifier-wrong-verifier-wrong-verifier-xx
    expect_error 400 invalid_grant || return 1
    # A failed PKCE check consumes the code: log in again.
    c_auth_code_login || return 1
    token -u "$auth" -d grant_type=authorization_code --data-urlencode "code=$code" \
        --data-urlencode "redirect_uri=$redirect_uri" -d "code_verifier=$verifier"
    expect_status 200 || return 1
    cp "$dir/body" "$dir/code.json"
    is '.access_token and .id_token and .refresh_token and .token_type == "Bearer" and .expires_in > 0' || fail "$(body)" || return 1
    jwt_is "$(val .id_token)" 2 --arg aud "$OIDC_TEST_WEB_CLIENT_ID" --arg sub "$OIDC_TEST_USER_SUB" \
        '.nonce == "no-456" and .aud == $aud and .sub == $sub and .auth_time > 0' ||
        fail "id token $(jwt_part "$(val .id_token)" 2)"
}

c_code_reuse() { # a code is single-use; its reuse revokes the tokens issued for it
    token -u "$(basic "$OIDC_TEST_WEB_CLIENT_ID" "$OIDC_TEST_WEB_CLIENT_SECRET")" -d grant_type=authorization_code \
        --data-urlencode "code=$code" --data-urlencode "redirect_uri=$redirect_uri" -d "code_verifier=$verifier"
    expect_error 400 invalid_grant || return 1
    req "$oc/userinfo" -H "Authorization: Bearer $(jq -r .access_token "$dir/code.json")"
    expect_status 401
}

c_userinfo() {
    req "$oc/userinfo" -H "Authorization: Bearer $(jq -r .access_token "$dir/code.json")"
    expect_status 200 || return 1
    is --arg sub "$OIDC_TEST_USER_SUB" --arg email "$OIDC_TEST_USER_EMAIL" --arg name "$OIDC_TEST_USER_NAME" \
        '.sub == $sub and .email == $email and .name == $name' || fail "$(body)" || return 1
    req "$oc/userinfo" -H "Authorization: Bearer not-a-token"
    expect_status 401 || return 1
    [[ $(header www-authenticate) == Bearer*invalid_token* ]] || fail "WWW-Authenticate: $(header www-authenticate)"
}

c_logout() {
    local idt xsrf
    idt=$(jq -r .id_token "$dir/code.json")
    req -b "$dir/jar" -c "$dir/jar" "$oc/logout?id_token_hint=$idt&post_logout_redirect_uri=$(form_encode "$OIDC_TEST_WEB_POST_LOGOUT_URI")&state=bye"
    expect_status 200 || return 1
    xsrf=$(header x-test-logout-xsrf)
    [ -n "$xsrf" ] || fail "no xsrf" || return 1
    req -b "$dir/jar" -c "$dir/jar" "$oc/logout/confirm" -d "xsrf=$xsrf" -d logout=yes
    expect_status 303 || return 1
    [ "$(header location)" = "$OIDC_TEST_WEB_POST_LOGOUT_URI?state=bye" ] || fail "redirect $(header location)"
}

device_token() { token -d client_id="$OIDC_TEST_DEVICE_CLIENT_ID" -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d "device_code=$1"; }
c_device_flow() {
    req "$oc/auth/device" -d client_id="$OIDC_TEST_DEVICE_CLIENT_ID" -d 'scope=openid profile'
    expect_status 200 || return 1
    local dc uc
    dc=$(val .device_code)
    uc=$(val .user_code)
    is --arg v "$iss/device" '.verification_uri == $v and .expires_in > 0 and (.verification_uri_complete | startswith($v))' || fail "$(body)" || return 1
    device_token "$dc"
    expect_error 400 authorization_pending || return 1
    req "$OIDC_TEST_BASE_URL/test/device/approve" -d "user_code=$uc"
    expect_status 200 || return 1
    device_token "$dc"
    expect_status 200 || return 1
    is '.access_token and .id_token and .refresh_token' || fail "$(body)" || return 1
    device_token "$dc"
    expect_error 400 invalid_grant || return 1
    # Denied by the user.
    req "$oc/auth/device" -d client_id="$OIDC_TEST_DEVICE_CLIENT_ID" -d 'scope=openid'
    dc=$(val .device_code)
    uc=$(val .user_code)
    req "$OIDC_TEST_BASE_URL/test/device/approve" -d "user_code=$uc" -d deny=1
    expect_status 200 || return 1
    device_token "$dc"
    expect_error 400 access_denied
}

# The device verification as a user's browser does it (oidc-provider's pages and the login).
c_device_browser() {
    req "$oc/auth/device" -d client_id="$OIDC_TEST_DEVICE_CLIENT_ID" -d 'scope=openid'
    expect_status 200 || return 1
    local dc uc xsrf url i action
    dc=$(val .device_code)
    uc=$(val .user_code)
    rm -f "$dir/djar"
    req -b "$dir/djar" -c "$dir/djar" "$(val .verification_uri_complete)"
    expect_status 200 || return 1
    xsrf=$(sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' "$dir/body")
    [ -n "$xsrf" ] || fail "no xsrf in the confirmation page" || return 1
    req -b "$dir/djar" -c "$dir/djar" "$iss/device" -d "xsrf=$xsrf" --data-urlencode "user_code=$uc" -d confirm=yes
    expect_status 303 || return 1
    url=$(header location)
    for i in $(seq 1 8); do
        [[ $url == /* ]] && url=$OIDC_TEST_BASE_URL$url
        req -b "$dir/djar" -c "$dir/djar" "$url"
        if [ "$status" = 200 ] && grep -q 'id="login"' "$dir/body"; then
            action=$(sed -n 's/.*<form id="login" method="post" action="\([^"]*\)".*/\1/p' "$dir/body")
            req -b "$dir/djar" -c "$dir/djar" "$OIDC_TEST_BASE_URL$action" \
                --data-urlencode "username=$OIDC_TEST_USER2" --data-urlencode "password=$OIDC_TEST_PASSWORD2"
            expect_status 303 || return 1
        elif [ "$status" = 200 ]; then
            break
        fi
        [ "$status" = 303 ] || fail "step $i: HTTP $status $(body)" || return 1
        url=$(header location)
    done
    grep -q 'Sign-in success' "$dir/body" || fail "no success page: $(body)" || return 1
    device_token "$dc"
    expect_status 200 || return 1
    jwt_is "$(val .id_token)" 2 --arg sub "$OIDC_TEST_USER2_SUB" '.sub == $sub' || fail "id token subject"
}

c_stats() {
    req -X POST "$OIDC_TEST_BASE_URL/test/stats/reset"
    expect_status 200 || return 1
    password_grant
    cp "$dir/body" "$dir/pw3.json"
    password_grant
    token -d grant_type=refresh_token -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "refresh_token=$(jq -r .refresh_token "$dir/pw3.json")"
    req "$OIDC_TEST_BASE_URL/test/stats"
    expect_status 200 || return 1
    is '.token.total == 3 and .token.grant_types.password == 2 and .token.grant_types.refresh_token == 1 and .token.status["200"] == 3' ||
        fail "$(body)"
}

c_fail_hook() {
    req -X POST "$OIDC_TEST_BASE_URL/test/stats/reset"
    req -X POST "$OIDC_TEST_BASE_URL/test/fail?status=500&count=2"
    expect_status 200 || return 1
    password_grant
    expect_error 500 server_error || return 1
    password_grant
    expect_status 500 || return 1
    password_grant
    expect_status 200 || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/fail?status=503&count=1"
    password_grant
    expect_error 503 temporarily_unavailable || return 1
    [ "$(header retry-after)" = 1 ] || fail "no Retry-After" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/fail?close=1&count=1"
    password_grant
    expect_status 000 || return 1
    password_grant
    expect_status 200 || return 1
    req "$OIDC_TEST_BASE_URL/test/stats"
    is '.token.total == 6 and .token.grant_types.password == 6 and .token.status["500"] == 2 and .token.status["503"] == 1 and .token.status.closed == 1' ||
        fail "$(body)" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/fail?route=jwks" --data-urlencode 'body={"keys":[' -d content_type=application/json
    expect_status 200 || return 1
    req "$oc/certs"
    [ "$status" = 200 ] && [ "$(cat "$dir/body")" = '{"keys":[' ] || fail "raw body: $status $(body)" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/fail?route=jwks&size=2000000"
    req "$oc/certs"
    [ "$(wc -c <"$dir/body")" -eq 2000000 ] && is '.keys == []' || fail "padded body of $(wc -c <"$dir/body") bytes" || return 1
    req "$oc/certs"
    is '.keys | length > 0' || fail "jwks not back" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/fail?status=abc"
    expect_error 400 invalid_request || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/fail?route=nowhere"
    expect_error 400 invalid_request || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/fail" -H 'Content-Type: application/json' -d '{not json'
    expect_error 400 invalid_request
}

c_delay_hook() {
    req -X POST "$OIDC_TEST_BASE_URL/test/delay?ms=400"
    expect_status 200 || return 1
    local t0 ms
    t0=$(date +%s%N)
    password_grant
    ms=$((($(date +%s%N) - t0) / 1000000))
    expect_status 200 || return 1
    [ $ms -ge 400 ] || fail "answered after $ms ms" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/delay?ms=0"
    expect_status 200 || return 1
    is '.ms == 0' || fail "delay not cleared"
}

c_rotate_keys() {
    local before kid
    before=$(jq -r '.keys[0].kid' "$dir/jwks.json")
    req -X POST "$OIDC_TEST_BASE_URL/test/rotate-keys"
    expect_status 200 || return 1
    kid=$(val .kid)
    req "$oc/certs"
    is --arg k "$kid" --arg b "$before" '(.keys | length) == 2 and .keys[0].kid == $k and .keys[1].kid == $b' || fail "keep: $(body)" || return 1
    password_grant
    jwt_is "$(val .access_token)" 1 --arg k "$kid" '.kid == $k' || fail "new tokens not signed with the new key" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/rotate-keys?keep=0"
    kid=$(val .kid)
    req "$oc/certs"
    is --arg k "$kid" '(.keys | length) == 1 and .keys[0].kid == $k' || fail "drop: $(body)" || return 1
    cp "$dir/body" "$dir/jwks.json"
    # State survives the rebuild: a refresh token issued before still works.
    token -d grant_type=refresh_token -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "refresh_token=$(jq -r .refresh_token "$dir/pw2.json")"
    expect_error 400 invalid_grant || return 1 # (revoked in c_revocation: still known as revoked)
    password_grant
    local rt
    rt=$(val .refresh_token)
    req -X POST "$OIDC_TEST_BASE_URL/test/rotate-keys"
    token -d grant_type=refresh_token -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "refresh_token=$rt"
    expect_status 200
}

c_token_exchange() {
    password_grant
    local subject
    subject=$(val .access_token)
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" \
        -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange --data-urlencode "subject_token=$subject" \
        -d subject_token_type=urn:ietf:params:oauth:token-type:access_token -d audience=eat-backend
    expect_status 200 || return 1
    is '.issued_token_type == "urn:ietf:params:oauth:token-type:access_token" and .token_type == "Bearer"' || fail "$(body)" || return 1
    jwt_is "$(val .access_token)" 2 --arg sub "$OIDC_TEST_USER_SUB" --arg act "$OIDC_TEST_BASIC_CLIENT_ID" \
        '.sub == $sub and .aud == "eat-backend" and .act.sub == $act' || fail "claims $(jwt_part "$(val .access_token)" 2)" || return 1
    # With an actor token (a client_credentials token of the post client).
    token -d grant_type=client_credentials -d client_id="$OIDC_TEST_POST_CLIENT_ID" --data-urlencode "client_secret=$OIDC_TEST_POST_CLIENT_SECRET"
    local actor
    actor=$(val .access_token)
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" \
        -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange --data-urlencode "subject_token=$subject" \
        -d subject_token_type=urn:ietf:params:oauth:token-type:access_token --data-urlencode "actor_token=$actor" \
        -d actor_token_type=urn:ietf:params:oauth:token-type:jwt -d 'scope=profile'
    expect_status 200 || return 1
    jwt_is "$(val .access_token)" 2 --arg act "$OIDC_TEST_POST_CLIENT_ID" '.act.sub == $act and .scope == "profile" and .aud == "eat-api"' ||
        fail "actor claims $(jwt_part "$(val .access_token)" 2)" || return 1
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" \
        -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange --data-urlencode "subject_token=$subject" \
        -d subject_token_type=urn:ietf:params:oauth:token-type:access_token -d 'scope=api:write'
    expect_error 400 invalid_scope || return 1
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" \
        -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange -d subject_token=forged \
        -d subject_token_type=urn:ietf:params:oauth:token-type:access_token
    expect_error 400 invalid_grant
}

c_private_key_jwt() {
    local assertion
    assertion=$(h sign "$OIDC_TEST_PKJWT_KEY" "$OIDC_TEST_PKJWT_KID" "{\"iss\":\"$OIDC_TEST_PKJWT_CLIENT_ID\",\"sub\":\"$OIDC_TEST_PKJWT_CLIENT_ID\",\"aud\":\"$iss\",\"jti\":\"$(openssl rand -hex 12)\",\"iat\":$(now),\"exp\":$(($(now) + 60))}")
    token -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
        -d "client_assertion=$assertion" -d client_id="$OIDC_TEST_PKJWT_CLIENT_ID"
    expect_status 200 || return 1
    # The same assertion again is a replay.
    token -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
        -d "client_assertion=$assertion" -d client_id="$OIDC_TEST_PKJWT_CLIENT_ID"
    expect_error 401 invalid_client
}

pkjwt_assertion() { # KEYFILE KID -> a fresh client assertion of the private_key_jwt client
    h sign "$1" "$2" "{\"iss\":\"$OIDC_TEST_PKJWT_CLIENT_ID\",\"sub\":\"$OIDC_TEST_PKJWT_CLIENT_ID\",\"aud\":\"$iss\",\"jti\":\"$(openssl rand -hex 12)\",\"iat\":$(now),\"exp\":$(($(now) + 60))}"
}
pkjwt_cc() { # ASSERTION
    token -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
        -d "client_assertion=$1" -d client_id="$OIDC_TEST_PKJWT_CLIENT_ID"
}

c_pkjwt_new_key() { # a test writes its own key into the JWKS file: the provider picks it up
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/new.key" 2>/dev/null || fail "openssl" || return 1
    h jwks "$dir/new.key" test-key-2 >"$OIDC_TEST_PKJWT_JWKS.tmp" && mv "$OIDC_TEST_PKJWT_JWKS.tmp" "$OIDC_TEST_PKJWT_JWKS"
    pkjwt_cc "$(pkjwt_assertion "$dir/new.key" test-key-2)"
    expect_status 200 || return 1
    pkjwt_cc "$(pkjwt_assertion "$OIDC_TEST_PKJWT_KEY" "$OIDC_TEST_PKJWT_KID")"
    expect_error 401 invalid_client
}

c_jwt_bearer() {
    local assertion
    assertion=$(h sign "$OIDC_TEST_PKJWT_KEY" "$OIDC_TEST_PKJWT_KID" "{\"iss\":\"$OIDC_TEST_BASIC_CLIENT_ID\",\"sub\":\"$OIDC_TEST_USER\",\"aud\":\"$iss\",\"iat\":$(now),\"exp\":$(($(now) + 60))}")
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" \
        -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer --data-urlencode "assertion=$assertion"
    expect_status 200 || return 1
    jwt_is "$(val .access_token)" 2 --arg sub "$OIDC_TEST_USER_SUB" '.sub == $sub' || fail "claims" || return 1
    assertion=$(h sign "$OIDC_TEST_PKJWT_KEY" "$OIDC_TEST_PKJWT_KID" "{\"iss\":\"$OIDC_TEST_BASIC_CLIENT_ID\",\"sub\":\"$OIDC_TEST_USER\",\"aud\":\"$iss\",\"iat\":$(now),\"exp\":$(($(now) - 120))}")
    token -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" \
        -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer --data-urlencode "assertion=$assertion"
    expect_error 400 invalid_grant
}

c_tls_client_auth() {
    token --cert "$OIDC_TEST_CLIENT_CERT" --key "$OIDC_TEST_CLIENT_KEY" \
        -d grant_type=client_credentials -d client_id="$OIDC_TEST_MTLS_CLIENT_ID"
    expect_status 200 || return 1
    token -d grant_type=client_credentials -d client_id="$OIDC_TEST_MTLS_CLIENT_ID"
    expect_error 401 invalid_client
}

c_jwt_introspection() { # oidc-provider refuses JWT access tokens at introspection and revocation
    password_grant
    local at
    at=$(val .access_token)
    req "$oc/token/introspect" -u "$(basic "$OIDC_TEST_BASIC_CLIENT_ID" "$OIDC_TEST_BASIC_CLIENT_SECRET")" --data-urlencode "token=$at"
    expect_error 400 unsupported_token_type || return 1
    req "$oc/revoke" -d client_id="$OIDC_TEST_PUBLIC_CLIENT_ID" --data-urlencode "token=$at"
    expect_error 400 unsupported_token_type
}

c_ipv6() {
    if [ -z "$OIDC_TEST_IPV6_BASE_URL" ]; then
        echo "  (no IPv6 loopback here: nothing to check)"
        return 0
    fi
    req "$OIDC_TEST_IPV6_BASE_URL/auth/realms/eat_realm/.well-known/openid-configuration"
    expect_status 200 || return 1
    [ "$(val .issuer)" = "$iss" ] || fail "issuer over IPv6 $(val .issuer)"
}

# A second provider with short lifetimes and rotation off (the settings by environment).
c_settings() {
    local d2=$dir/p2
    mkdir -p "$d2" && ln -sfn "$dir/pki" "$d2/pki" # same test PKI (make-certs.sh keeps it)
    OIDC_TEST_AT_TTL=2 OIDC_TEST_RT_TTL=60 OIDC_TEST_RT_ROTATION=0 OIDC_TEST_SIGNING_ALG=ES256 OIDC_TEST_TOKEN_TYPE=bearer \
        bash "$root/scripts/provider.sh" start "$d2" >/dev/null || fail "second provider did not start" || return 1
    local t2 cid rt at
    local OIDC_TEST_CA=$d2/pki/ca.pem # (dynamic scope: req uses it)
    t2=$(sed -n 's/^OIDC_TEST_TOKEN_ENDPOINT=//p' "$d2/provider.env")
    cid=$OIDC_TEST_PUBLIC_CLIENT_ID
    req "$t2" -d grant_type=password -d client_id="$cid" --data-urlencode "username=$OIDC_TEST_USER" --data-urlencode "password=$OIDC_TEST_PASSWORD"
    expect_status 200 || return 1
    is '.expires_in == 2 and .refresh_expires_in > 50 and .refresh_expires_in <= 60 and .token_type == "bearer"' || fail "lifetimes $(body)" || return 1
    rt=$(val .refresh_token)
    at=$(val .access_token)
    jwt_is "$at" 2 '.exp - .iat == 2' || fail "exp - iat" || return 1
    jwt_is "$at" 1 '.alg == "ES256"' || fail "alg $(jwt_part "$at" 1)" || return 1
    req "$(sed -n 's/^OIDC_TEST_JWKS_URI=//p' "$d2/provider.env")"
    cp "$dir/body" "$d2/jwks.json"
    is '.keys[0].kty == "EC" and .keys[0].crv == "P-256" and .keys[0].d == null' || fail "jwks $(body)" || return 1
    h verify "$at" "$d2/jwks.json" || fail "ES256 signature" || return 1
    req "$t2" -d grant_type=refresh_token -d client_id="$cid" --data-urlencode "refresh_token=$rt"
    expect_status 200 || return 1
    req "$t2" -d grant_type=refresh_token -d client_id="$cid" --data-urlencode "refresh_token=$rt"
    expect_status 200 || fail "no rotation: the refresh token is reusable" || return 1
    [ "$(val .refresh_token)" = "$rt" ] || fail "no rotation: the same refresh token comes back" || return 1
    bash "$root/scripts/provider.sh" stop "$d2" >/dev/null
}

c_header_hook() { # e.g. Cache-Control on the JWKS for the key-cache tests
    req -X POST "$OIDC_TEST_BASE_URL/test/header?route=jwks" -d name=Cache-Control --data-urlencode 'value=max-age=60, public'
    expect_status 200 || return 1
    req "$oc/certs"
    [ "$(header cache-control)" = "max-age=60, public" ] || fail "Cache-Control: $(header cache-control)" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/header?route=jwks&name=Cache-Control&value="
    req "$oc/certs"
    [ -z "$(header cache-control)" ] || fail "header not removed" || return 1
    req -X POST "$OIDC_TEST_BASE_URL/test/header?route=jwks&name=Bad%20Name&value=x"
    expect_error 400 invalid_request
}

c_stop() {
    bash "$root/scripts/provider.sh" stop "$dir" >/dev/null || fail "stop failed" || return 1
    kill -0 "$pid" 2>/dev/null && fail "pid $pid still alive" && return 1
    curl -s --max-time 2 --cacert "$OIDC_TEST_CA" -o /dev/null "$iss/.well-known/openid-configuration" && fail "still answering" && return 1
    bash "$root/scripts/provider.sh" status "$dir" >/dev/null && fail "status says running" && return 1
    return 0
}

check "discovery (issuer, Keycloak endpoints, grants)" c_discovery
check "jwks (public RSA keys)" c_jwks
check "plain-HTTP instance (discovery, password grant)" c_http_issuer
check "password grant (Keycloak members, JWT claims, signature)" c_password
check "password grant with a form-encoded password" c_password_encoded
check "wrong password -> invalid_grant" c_wrong_password
check "client_credentials, client_secret_basic with form-encoded secret" c_client_credentials_basic
check "client_credentials, client_secret_post" c_client_credentials_post
check "refresh with rotation (old refresh token rejected)" c_refresh_rotation
check "introspection" c_introspection
check "revocation" c_revocation
check "headless authorization-code login -> code + state" c_auth_code_login
check "code exchange with PKCE" c_code_exchange
check "userinfo" c_userinfo
check "authorization code reuse" c_code_reuse
check "RP-initiated logout" c_logout
check "device flow with the approve hook" c_device_flow
check "device flow through the verification page and the login" c_device_browser
check "stats hook" c_stats
check "fail hook" c_fail_hook
check "delay hook" c_delay_hook
check "key rotation hook (keep and drop)" c_rotate_keys
check "token exchange (RFC 8693)" c_token_exchange
check "private_key_jwt client" c_private_key_jwt
check "jwt-bearer grant (RFC 7523)" c_jwt_bearer
check "private_key_jwt client with a key the test writes" c_pkjwt_new_key
check "tls_client_auth client" c_tls_client_auth
check "JWT access tokens at introspection/revocation -> unsupported_token_type" c_jwt_introspection
check "IPv6 loopback listener" c_ipv6
check "lifetimes, rotation off, ES256, token_type by environment (second provider)" c_settings
check "response header hook" c_header_hook
check "stop (process gone)" c_stop

echo "provider smoke: $((($(date +%s%N) - t_start) / 1000000)) ms"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
