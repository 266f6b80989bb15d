# shellcheck shell=bash disable=SC2154
# Stages of the HTTP client (sourced by scripts/test.sh):
#   http-tsan   the threaded client tests under ThreadSanitizer (clang 16), only those
#   http-nginx  the client against a real nginx over HTTPS on 127.0.0.1 (test PKI)

# The ThreadSanitizer build (clang 16) of oidc_threaded_tests, shared with session-tsan.
tsan_build() {
    local dir=$out/clang-tsan
    if [ ! -f "$dir/build.ninja" ]; then
        cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
            -DCMAKE_CXX_COMPILER=clang++-16 -DASIO_OIDC_SANITIZE=thread \
            -DCMAKE_CXX_FLAGS_DEBUG=-gline-tables-only -DASIO_OIDC_BUILD_EXAMPLES=OFF \
            -DASIO_OIDC_HEADER_TESTS=OFF >"$dir.configure.log" 2>&1 || {
            cat "$dir.configure.log"
            return 1
        }
    fi
    cmake --build "$dir" -j "$jobs" --target oidc_threaded_tests
}

http_tsan() {
    tsan_build &&
        TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/scripts/stages/20-http.tsan.supp" \
            "$out/clang-tsan/tests/oidc_threaded_tests" "[http-client][threads]"
}

http_nginx() {
    local dir=$out/gcc
    # Reuse the gcc stage's build (brought up to date), else configure one.
    gcc_tree && cmake --build "$dir" -j "$jobs" --target oidc_unit_tests || return 1
    bash "$root/scripts/make-certs.sh" "$out/pki" >/dev/null
    local ndir=$out/nginx-test port rc=0
    port=$(bash "$root/scripts/nginx/nginx.sh" start "$ndir" "$out/pki") || return 1
    OIDC_TEST_NGINX_URL="https://127.0.0.1:$port" OIDC_TEST_NGINX_CA="$out/pki/ca.pem" \
        "$dir/tests/oidc_unit_tests" "[nginx]" || rc=$?
    bash "$root/scripts/nginx/nginx.sh" stop "$ndir"
    return $rc
}

register_stage http-tsan http_tsan
register_stage http-nginx http_nginx
