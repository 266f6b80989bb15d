# shellcheck shell=bash disable=SC2154
# Stage session-tsan: the threaded oidc::session tests under ThreadSanitizer (clang++-16), from
# the TSan build of oidc_threaded_tests that scripts/stages/20-http.sh defines (tsan_build).
session_tsan() {
    tsan_build &&
        TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
            "$out/clang-tsan/tests/oidc_threaded_tests" "[session][threaded]" --order rand
}
register_stage session-tsan session_tsan
