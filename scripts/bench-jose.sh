#!/usr/bin/env bash
# Builds the JOSE benchmark (Release, build-bench) and runs it.
# Usage: scripts/bench-jose.sh [SLICES [SLICE_MS [ALG,ALG...]]]   (default 20 x 200 ms)
# Output: one line per algorithm, `ALG ops_per_s RAW_ops_per_s ratio`.
# OIDC_BENCH_RUNS=N (default 1) runs the benchmark N times, prints every run, then one
# `median ALG ratio` line per algorithm.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=${OIDC_BENCH_DIR:-build-bench}
runs=${OIDC_BENCH_RUNS:-1}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASIO_OIDC_BUILD_BENCH=ON \
    -DASIO_OIDC_BUILD_TESTS=OFF -DASIO_OIDC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target bench_jose
if [ "$runs" -le 1 ]; then
    exec "$dir/bench/bench_jose" "$@"
fi
all=$(mktemp)
trap 'rm -f "$all"' EXIT
for _ in $(seq "$runs"); do
    "$dir/bench/bench_jose" "$@" | tee -a "$all"
done
grep -v '^#' "$all" | sort -k1,1 -k4,4g | awk '
    { a[$1] = a[$1] " " $4; n[$1]++ }
    END { for (k in a) { split(substr(a[k], 2), v, " "); m = n[k];
          med = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2;
          printf "median %s %.3f\n", k, med } }' | sort
