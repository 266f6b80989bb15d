#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 16 and runs each for SECONDS (default 60).
# Usage: scripts/fuzz.sh [SECONDS] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-60}
shift || true
bash scripts/deps.sh
dir=$root/build-fuzz
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-16 \
    -DASIO_OIDC_BUILD_FUZZ=ON -DASIO_OIDC_BUILD_TESTS=OFF -DASIO_OIDC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
for t in "${targets[@]}"; do
    corpus=$dir/corpus/$t
    mkdir -p "$corpus"
    seeds=tests/fuzz/seeds/${t#fuzz_}
    echo "== $t for ${secs}s"
    args=("$corpus")
    [ -d "$seeds" ] && args+=("$seeds")
    "$dir/tests/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=5 -rss_limit_mb=2048 \
        "${args[@]}" 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done" || true
    # A crash leaves crash-* files and a non-zero status; fail loudly.
    if compgen -G 'crash-*' >/dev/null || compgen -G 'leak-*' >/dev/null ||
        compgen -G 'timeout-*' >/dev/null; then
        echo "fuzz: $t found a failing input"
        exit 1
    fi
done
