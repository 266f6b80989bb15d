# Stage jose-cli: `asio-oidc verify` against tokens made by an independent signer, the openssl
# command line (RS256, PS256, ES256 with the DER signature turned into JWS r||s, EdDSA, HS256
# with a client secret), and JWK Sets written from the openssl keys. Sourced by scripts/test.sh.

jose_cli() {
    local bin dir
    # Reuse the gcc stage's build when there is one, else build the tool alone.
    if [ -f "$out/gcc/build.ninja" ]; then
        dir=$out/gcc
    else
        dir=$out/jose-cli
        mkdir -p "$dir"
        cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DASIO_OIDC_BUILD_TESTS=OFF \
            >"$dir.configure.log" 2>&1 || {
            cat "$dir.configure.log"
            return 1
        }
    fi
    cmake --build "$dir" -j "$jobs" --target asio-oidc-cli || return 1
    bin=$dir/examples/cli/asio-oidc
    (jose_cli_checks "$bin")
}

jose_cli_checks() {
    set -u
    local bin=$1
    jose_tmp=$(mktemp -d)
    trap 'rm -rf "$jose_tmp"' EXIT
    cd "$jose_tmp" || return 1
    local pass=0 fail=0

    b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
    hex2bin() { perl -e 'print pack("H*", $ARGV[0])' "$1"; }
    b64json() { printf '%s' "$1" | b64url; }

    # ---- keys and the JWK Set, from openssl ----
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.pem 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
    openssl genpkey -algorithm ED25519 -out ed.pem 2>/dev/null
    local n e ecpt x y edx
    n=$(hex2bin "$(openssl rsa -in rsa.pem -noout -modulus | cut -d= -f2)" | b64url)
    e=$(openssl rsa -in rsa.pem -noout -text | sed -n 's/^publicExponent: \([0-9]*\).*/\1/p')
    [ "$e" = 65537 ] || { echo "unexpected RSA exponent $e"; return 1; }
    # SubjectPublicKeyInfo of P-256 ends with the uncompressed point 04 || x || y.
    openssl pkey -in ec.pem -pubout -outform DER | tail -c 64 >ecpt.bin
    x=$(head -c 32 ecpt.bin | b64url)
    y=$(tail -c 32 ecpt.bin | b64url)
    edx=$(openssl pkey -in ed.pem -pubout -outform DER | tail -c 32 | b64url)
    cat >jwks.json <<JSON
{"keys":[
 {"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":"$n","e":"AQAB"},
 {"kty":"RSA","kid":"rsa-pss","use":"sig","n":"$n","e":"AQAB"},
 {"kty":"EC","kid":"ec-1","crv":"P-256","x":"$x","y":"$y"},
 {"kty":"OKP","kid":"ed-1","crv":"Ed25519","x":"$edx"},
 {"kty":"unknown-kty","kid":"skipped"}
]}
JSON

    # ---- tokens ----
    local iss="https://idp.example/realms/demo" now=1700000000
    claims() { # extra members; $aud replaces the audience
        printf '{"iss":"%s","aud":%s,"sub":"alice","exp":%d,"iat":%d%s}' \
            "$iss" "${aud:-\"api\"}" $((now + 300)) $((now - 10)) "${1:+,$1}"
    }
    sign_rs() { printf '%s' "$1" | openssl dgst -sha256 -binary -sign rsa.pem | b64url; }
    sign_rs2() { printf '%s' "$1" | openssl dgst -sha256 -binary -sign rsa2.pem | b64url; }
    sign_ps() {
        printf '%s' "$1" | openssl dgst -sha256 -binary -sign rsa.pem \
            -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 | b64url
    }
    sign_es() { # DER ECDSA-Sig-Value -> r || s, 32 bytes each
        printf '%s' "$1" | openssl dgst -sha256 -binary -sign ec.pem >es.der
        local r s
        r=$(openssl asn1parse -inform DER -in es.der | sed -n 's/.*INTEGER *:\([0-9A-F]*\).*/\1/p' | sed -n 1p)
        s=$(openssl asn1parse -inform DER -in es.der | sed -n 's/.*INTEGER *:\([0-9A-F]*\).*/\1/p' | sed -n 2p)
        while [ ${#r} -gt 64 ]; do r=${r#??}; done
        while [ ${#s} -gt 64 ]; do s=${s#??}; done
        printf '%64s%64s' "$r" "$s" | tr ' ' 0 >es.hex
        hex2bin "$(cat es.hex)" | b64url
    }
    sign_ed() {
        printf '%s' "$1" >ed.in
        openssl pkeyutl -sign -inkey ed.pem -rawin -in ed.in | b64url
    }
    sign_hs() { printf '%s' "$1" | openssl dgst -sha256 -binary -hmac "$secret" | b64url; }
    token() { # alg kid signer payload [typ]
        local h input
        if [ -n "$2" ]; then
            h=$(printf '{"alg":"%s","kid":"%s"%s}' "$1" "$2" "${5:+,\"typ\":\"$5\"}")
        else
            h=$(printf '{"alg":"%s"%s}' "$1" "${5:+,\"typ\":\"$5\"}")
        fi
        input="$(b64json "$h").$(b64json "$4")"
        printf '%s.%s' "$input" "$($3 "$input")"
    }
    local secret="client-secret-of-s6BhdRkqt3-with-enough-entropy"
    printf '%s\n' "$secret" >secret.txt

    # expect STATUS [ERRC] -- args...: runs the tool, checks the exit status and the error line.
    expect() {
        local want=$1 code=$2
        shift 2
        local got=0
        "$bin" "$@" >out.txt 2>err.txt </dev/null || got=$?
        if [ "$got" != "$want" ]; then
            echo "FAIL (exit $got, want $want): ${*:1:4}"
            head -c 400 err.txt
            fail=$((fail + 1))
            return
        fi
        if [ "$want" = 1 ] && ! grep -qx "error: $code: .*" err.txt; then
            echo "FAIL (want error $code): $(head -c 200 err.txt)"
            fail=$((fail + 1))
            return
        fi
        if [ "$want" = 0 ] && ! grep -q "\"sub\":\"alice\"" out.txt; then
            echo "FAIL (claims not printed): $(head -c 200 out.txt)"
            fail=$((fail + 1))
            return
        fi
        pass=$((pass + 1))
    }
    local base=(verify --jwks jwks.json --issuer "$iss" --audience api --now "$now")
    local rs ps es ed hs t
    rs=$(token RS256 rsa-1 sign_rs "$(claims)")
    ps=$(token PS256 rsa-pss sign_ps "$(claims)")
    es=$(token ES256 ec-1 sign_es "$(claims)")
    ed=$(token EdDSA ed-1 sign_ed "$(claims)")

    # Good tokens.
    expect 0 - "${base[@]}" "$rs"
    expect 0 - "${base[@]}" --algs PS256 "$ps"
    expect 0 - "${base[@]}" --algs ES256 "$es"
    expect 0 - "${base[@]}" --algs EdDSA "$ed"
    expect 0 - "${base[@]}" --algs RS256,PS256,ES256,EdDSA "$ed"
    if ! "$bin" "${base[@]}" - <<<"$rs" >out.txt 2>err.txt; then
        echo "FAIL: token from stdin"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
    grep -q "\"iss\":\"$iss\"" out.txt || { echo "FAIL: claims JSON"; fail=$((fail + 1)); }
    # Kid-less token: the single RS256 key usable is not unique (rsa-1 and rsa-pss) -> refused.
    expect 1 key_not_found "${base[@]}" "$(token RS256 '' sign_rs "$(claims)")"
    # ID token signed with the client secret (OpenID Connect Core 10.1), nonce, azp, at_hash.
    local at="jHkWEdUXMU1BwAsC4vtUsZwnNQ" ath
    ath=$(printf '%s' "$at" | openssl dgst -sha256 -binary | head -c 16 | b64url)
    hs=$(token HS256 '' sign_hs "$(claims "\"nonce\":\"n-0S6\",\"azp\":\"api\",\"at_hash\":\"$ath\"")")
    local idt=(verify --client-secret-file secret.txt --issuer "$iss" --audience api --now "$now" --id-token)
    expect 0 - "${idt[@]}" --nonce n-0S6 --access-token "$at" "$hs"
    expect 1 nonce_mismatch "${idt[@]}" --nonce other "$hs"
    expect 1 at_hash_mismatch "${idt[@]}" --nonce n-0S6 --access-token other "$hs"
    expect 1 alg_not_allowed "${base[@]}" "$hs"
    hs=$(aud='["api","other"]' token HS256 '' sign_hs "$(aud='["api","other"]' claims)")
    expect 1 azp_mismatch "${idt[@]}" --trusted-audience other "$hs"
    expect 1 audience_mismatch "${idt[@]}" "$hs"

    # max_age (OpenID Connect Core 3.1.3.7 rule 13): auth_time required and recent enough.
    t=$(token RS256 rsa-1 sign_rs "$(claims "\"auth_time\":$((now - 100))")")
    expect 0 - "${base[@]}" --max-age 200 "$t"
    expect 1 auth_too_old "${base[@]}" --leeway 0 --max-age 30 "$t"
    expect 1 auth_time_missing "${base[@]}" --max-age 200 "$rs"

    # Rejected tokens.
    expect 1 token_expired "${base[@]}" --now $((now + 360)) "$rs"
    expect 0 - "${base[@]}" --now $((now + 359)) "$rs"
    expect 1 token_expired "${base[@]}" --leeway 0 --now $((now + 300)) "$rs"
    expect 1 token_issued_in_future "${base[@]}" --leeway 0 --now $((now - 11)) "$rs"
    expect 1 audience_mismatch verify --jwks jwks.json --issuer "$iss" --audience other --now "$now" "$rs"
    expect 1 issuer_mismatch verify --jwks jwks.json --issuer "$iss/" --audience api --now "$now" "$rs"
    expect 1 alg_not_allowed "${base[@]}" "$es"
    expect 1 alg_not_allowed "${base[@]}" --algs RS256 "$ed"
    expect 1 key_not_found "${base[@]}" "$(token RS256 rsa-9 sign_rs "$(claims)")"
    expect 1 signature_invalid "${base[@]}" "$(token RS256 rsa-1 sign_rs2 "$(claims)")"
    t=$(token RS256 rsa-1 sign_rs "$(claims)")
    local forged="${t%%.*}.$(b64json "$(claims '"admin":true')").${t##*.}"
    expect 1 signature_invalid "${base[@]}" "$forged"
    expect 1 alg_none "${base[@]}" "$(b64json '{"alg":"none"}').$(b64json "$(claims)")."
    expect 1 typ_mismatch "${base[@]}" --typ at+jwt "$rs"
    expect 0 - "${base[@]}" --typ at+jwt "$(token RS256 rsa-1 sign_rs "$(claims)" application/AT+JWT)"
    expect 1 typ_mismatch "${base[@]}" --access-token-profile "$rs"
    expect 1 claim_invalid "${base[@]}" "$(token RS256 rsa-1 sign_rs "{\"iss\":\"$iss\",\"aud\":\"api\",\"exp\":\"soon\"}")"
    expect 1 json_duplicate_member "${base[@]}" "$(token RS256 rsa-1 sign_rs "$(claims '"sub":"mallory"')")"
    expect 1 claim_missing "${base[@]}" "$(token RS256 rsa-1 sign_rs "{\"iss\":\"$iss\",\"aud\":\"api\"}")"
    expect 1 jws_malformed "${base[@]}" "not-a-token"
    expect 1 input_too_large "${base[@]}" "$(head -c 40000 /dev/zero | tr '\0' a)"
    # The error line never carries the token.
    "$bin" "${base[@]}" --now $((now + 9999)) "$rs" 2>err.txt >/dev/null || true
    if grep -qF "${rs:0:20}" err.txt || grep -qF "${rs: -20}" err.txt; then
        echo "FAIL: the error text contains the token"
        fail=$((fail + 1))
    fi

    # Bad usage: exit 2 with a usage text.
    expect 2 - verify
    expect 2 - verify --jwks jwks.json --audience api "$rs"
    expect 2 - verify --jwks jwks.json --issuer "$iss" "$rs"
    expect 2 - verify --issuer "$iss" --audience api "$rs"
    expect 2 - "${base[@]}" --leeway abc "$rs"
    expect 2 - "${base[@]}" --algs RS256,XX999 "$rs"
    expect 2 - "${base[@]}" --bogus "$rs"
    expect 2 - "${base[@]}" "$rs" "$rs"
    expect 2 - verify --jwks missing.json --issuer "$iss" --audience api "$rs"
    expect 2 - no-such-verb
    expect 2 -
    grep -q "usage" err.txt || { echo "FAIL: no usage text"; fail=$((fail + 1)); }
    "$bin" verify --help | grep -q -- "--jwks" || { echo "FAIL: verify --help"; fail=$((fail + 1)); }

    echo "jose-cli: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

register_stage jose-cli jose_cli
