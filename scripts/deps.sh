#!/usr/bin/env bash
# Installs, from Debian's packages, what the build, the tests and the demo need, when missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config meson libasio-dev libssl-dev libsimdjson-dev
      catch2 clang-16 libclang-rt-16-dev clang-format openssl ca-certificates nodejs npm nginx
      wrk libcurl4-openssl-dev curl jq iproute2 util-linux "$@")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodesource's nodejs bundles npm: do not ask Debian for npm when npm is already there.
if command -v npm >/dev/null 2>&1; then
    missing=("${missing[@]/npm/}")
fi
want=()
for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
if [ ${#want[@]} -gt 0 ]; then
    echo "deps: installing ${want[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}"
fi
