#!/usr/bin/env bash
# Runs every test of asio-oidc: installs what is missing, builds with g++ 12 and clang 16
# (ASan+UBSan, and TSan for the threaded tests), runs unit, header, integration and
# consumer tests, and checks formatting. The command that .ci/run calls.
#
# Usage: scripts/test.sh [stage ...]    (default: every stage)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)
out=${OIDC_BUILD_ROOT:-$root/build-test}
mkdir -p "$out"

bash scripts/deps.sh

passed=0
failed=0
failures=()
stage() {
    local name=$1
    shift
    echo "==== stage: $name"
    local t0=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "==== stage: $name ok ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "==== stage: $name FAILED ($((SECONDS - t0)) s)"
    fi
}

configure_build() { # dir, extra cmake args...
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || {
        cat "$dir.configure.log"
        return 1
    }
    cmake --build "$dir" -j "$jobs"
}

run_ctest() { # dir, extra ctest args...
    local dir=$1
    shift
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@"
}

format_check() {
    local files
    files=$(git ls-files '*.hpp' '*.cpp' | grep -v '^tests/fixtures/' || true)
    [ -z "$files" ] && return 0
    # clang-format 14 (Debian's default) is the reference version.
    local cf=clang-format
    # shellcheck disable=SC2086
    $cf --dry-run --Werror $files
}

gcc_debug() {
    configure_build "$out/gcc" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=g++ &&
        run_ctest "$out/gcc"
}

clang_asan() {
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        configure_build "$out/clang-asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-16 \
        -DASIO_OIDC_SANITIZE=address,undefined &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run_ctest "$out/clang-asan"
}

all_stages=(format gcc clang-asan)
declare -A stage_fn=([format]=format_check [gcc]=gcc_debug [clang-asan]=clang_asan)
# More stages live in scripts/stages/*.sh; each file defines a function and calls
# register_stage NAME FUNCTION. They run in file-name order after the built-in ones.
register_stage() {
    all_stages+=("$1")
    stage_fn[$1]=$2
}
for f in scripts/stages/*.sh; do
    [ -e "$f" ] || continue
    # shellcheck source=/dev/null
    source "$f"
done

selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=("${all_stages[@]}")
t_start=$SECONDS
for s in "${selected[@]}"; do
    if [ -z "${stage_fn[$s]:-}" ]; then
        echo "unknown stage: $s (stages: ${all_stages[*]})"
        exit 2
    fi
    stage "$s" "${stage_fn[$s]}"
done

echo
echo "stages: ${selected[*]} in $((SECONDS - t_start)) s"
[ $failed -gt 0 ] && echo "failed stages: ${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
