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
# CPU seconds (user + system) of the finished child processes so far, in $cpu_now. `times`
# must run in this shell: in a $(...) subshell its counters start at zero.
cpu_now=0
sample_cpu() {
    times >"$out/.times"
    cpu_now=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$out/.times")
}
stage() {
    local name=$1
    shift
    echo "==== stage: $name"
    local t0=$SECONDS c0
    sample_cpu
    c0=$cpu_now
    if "$@"; then
        passed=$((passed + 1))
        sample_cpu
        echo "==== stage: $name ok ($((SECONDS - t0)) s, CPU $((cpu_now - c0)) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        sample_cpu
        echo "==== stage: $name FAILED ($((SECONDS - t0)) s, CPU $((cpu_now - c0)) s)"
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

# Catch2 v3 (3.7.1, built once from Debian's source tarball into $out/catch2-v3/prefix) for
# the stages that test against v3: clang-asan (CMake) and meson. The other stages use Debian's
# Catch2 2.13. Prints the prefix.
catch2_v3_prefix() {
    bash "$root/scripts/catch2-v3.sh" "$out/catch2-v3"
}

# The g++ build: everything (unit, header-alone and ODR tests, integration tests, examples,
# CLI, and the benchmarks - compiled only, so that they keep building). The gcc stage runs its
# ctest; jose-cli, http-nginx, integration and examples reuse it.
# Line tables only (-g1): backtraces keep file:line, the build is about 10 % cheaper.
gcc_args=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS_DEBUG=-g1
    -DASIO_OIDC_BUILD_BENCH=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)

# Configures the gcc stage's tree ($out/gcc) when it is not there yet, without building it:
# the stages that reuse it (clang-syntax, http-nginx, integration, examples) then build only
# their own targets when run alone.
gcc_tree() {
    local dir=$out/gcc
    [ -f "$dir/build.ninja" ] && return 0
    cmake -S "$root" -B "$dir" -G Ninja "${gcc_args[@]}" >"$dir.configure.log" 2>&1 || {
        cat "$dir.configure.log"
        return 1
    }
}

gcc_debug() {
    configure_build "$out/gcc" "${gcc_args[@]}" &&
        run_ctest "$out/gcc"
}

# clang 16 with ASan+UBSan, against Catch2 v3: builds what its ctest runs (the unit tests and
# the ODR test), not the examples, integration tests or header-alone TUs, which only the g++
# build compiles (their runs use the g++ build).
clang_asan_build() {
    local dir=$out/clang-asan prefix
    prefix=$(catch2_v3_prefix) || return 1
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-16 \
        -DASIO_OIDC_SANITIZE=address,undefined -DCMAKE_CXX_FLAGS_DEBUG=-gline-tables-only \
        -DASIO_OIDC_BUILD_EXAMPLES=OFF -DASIO_OIDC_HEADER_TESTS=OFF \
        -DCMAKE_PREFIX_PATH="$prefix" >"$dir.configure.log" 2>&1 || {
        cat "$dir.configure.log"
        return 1
    }
    grep -q "^Catch2_DIR:PATH=$prefix/" "$dir/CMakeCache.txt" || {
        echo "clang-asan: Catch2 v3 from $prefix was not used: $(grep '^Catch2_DIR' "$dir/CMakeCache.txt")"
        return 1
    }
    cmake --build "$dir" -j "$jobs" --target oidc_unit_tests oidc_header_tests
}
# The sanitizer settings of every run of a clang-asan binary.
asan_env=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
clang_asan() {
    clang_asan_build && (export "${asan_env[@]}" && run_ctest "$out/clang-asan")
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
sample_cpu
echo "stages: ${selected[*]} in $((SECONDS - t_start)) s, CPU $cpu_now s"
[ $failed -gt 0 ] && echo "failed stages: ${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
