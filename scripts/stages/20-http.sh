# shellcheck shell=bash disable=SC2154
# Stages of the HTTP client (sourced by scripts/test.sh):
#   http-tsan   every [http-client] test under ThreadSanitizer (clang 16): the multi-threaded
#               ones, and the others' timer, resolver and pool paths (about 15 s)
#   http-nginx  the client against a real nginx over HTTPS on 127.0.0.1 (test PKI)
#   http-dns    name resolution against a DNS server that never answers (g++, ASan, TSan)

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

# The ThreadSanitizer settings of the HTTP client's threaded tests.
http_tsan_options="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/scripts/stages/20-http.tsan.supp"

http_tsan() {
    tsan_build && TSAN_OPTIONS=$http_tsan_options \
        "$out/clang-tsan/tests/oidc_threaded_tests" "[http-client]"
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

# The [slow-dns] tests need getaddrinfo to ask a server that never answers: they run in
# private mount and network namespaces (unshare; as root, else in a user namespace) where
# /etc/resolv.conf names only 127.0.0.1 (one attempt of 2 s) and the test binds
# 127.0.0.1:53 itself; /etc/hosts names localhost and fast.slow-dns.test (127.0.0.1), a
# name that answers at once while another lookup waits for DNS. Three builds: g++, clang
# ASan+UBSan (the late getaddrinfo answer outlives the request and the io_context), TSan (it
# arrives on a thread of its own).
http_dns() {
    gcc_tree && cmake --build "$out/gcc" -j "$jobs" --target oidc_unit_tests || return 1
    clang_asan_build && tsan_build || return 1
    local conf=$out/slow-dns.resolv.conf hosts=$out/slow-dns.hosts userns=()
    printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:1\n' >"$conf"
    printf '127.0.0.1 localhost\n::1 localhost\n127.0.0.1 fast.slow-dns.test\n' >"$hosts"
    [ "$(id -u)" -ne 0 ] && userns=(--user --map-root-user)
    env "${asan_env[@]}" unshare "${userns[@]}" --mount --net sh -ec '
        ip link set lo up
        mount --bind "$1" /etc/resolv.conf
        mount --bind "$6" /etc/hosts
        export OIDC_TEST_DNS_BLACKHOLE=1
        "$2" "[slow-dns]"
        "$3" "[slow-dns]"
        TSAN_OPTIONS=$5 "$4" "[slow-dns]"
    ' sh "$conf" "$out/gcc/tests/oidc_unit_tests" "$out/clang-asan/tests/oidc_unit_tests" \
        "$out/clang-tsan/tests/oidc_threaded_tests" "$http_tsan_options" "$hosts"
}

register_stage http-tsan http_tsan
register_stage http-nginx http_nginx
register_stage http-dns http_dns
