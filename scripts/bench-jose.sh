#!/usr/bin/env bash
# Builds the JOSE benchmark (Release, build-bench) and runs it.
# Usage: scripts/bench-jose.sh [SLICES [SLICE_MS [ALG,ALG...]]]   (default 20 x 200 ms)
# Output: one line per algorithm, `ALG ops_per_s RAW_ops_per_s ratio`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=${OIDC_BENCH_DIR:-build-bench}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASIO_OIDC_BUILD_BENCH=ON \
    -DASIO_OIDC_BUILD_TESTS=OFF -DASIO_OIDC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target bench_jose
"$dir/bench/bench_jose" "$@"
