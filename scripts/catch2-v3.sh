#!/usr/bin/env bash
# Builds and installs Catch2 3.7.1 (Catch2 v3, as vcpkg ships it) from Debian's source tarball,
# for the CI stages that test against v3 (Debian 12 itself has only Catch2 2.13).
#
# Usage: scripts/catch2-v3.sh DIR     prints the install prefix (DIR/prefix) on stdout
#
# Cached: the tarball (DIR/catch2_3.7.1.orig.tar.gz, sha256-checked) is downloaded once and the
# install is done once (DIR/prefix/.catch2-3.7.1-installed); a re-run costs nothing. The library
# is built with C++20 (the tests' standard: Catch2's C++17 conditional parts must match) and as a
# unity build (half the CPU of a file-by-file build).
# Consumers: CMake  -DCMAKE_PREFIX_PATH=DIR/prefix    (find_package(Catch2 3), Catch2::Catch2WithMain)
#            meson  PKG_CONFIG_PATH=DIR/prefix/share/pkgconfig   (dependency('catch2-with-main'))
set -euo pipefail

version=3.7.1
sha256=c991b247a1a0d7bb9c39aa35faf0fe9e19764213f28ffba3109388e62ee0269c
url=http://deb.debian.org/debian/pool/main/c/catch2/catch2_${version}.orig.tar.gz

dir=${1:?usage: scripts/catch2-v3.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
prefix=$dir/prefix
stamp=$prefix/.catch2-$version-installed
if [ -f "$stamp" ]; then
    echo "$prefix"
    exit 0
fi

log=$dir/catch2-v3.log
: >"$log"
fail() {
    echo "catch2-v3: $*" >&2
    tail -n 40 "$log" >&2
    exit 1
}

tarball=$dir/catch2_${version}.orig.tar.gz
check_sum() { echo "$sha256  $tarball" | sha256sum --check --status; }
if [ ! -f "$tarball" ] || ! check_sum; then
    echo "catch2-v3: downloading $url" >&2
    curl -fsSL --retry 3 --max-time 300 -o "$tarball.part" "$url" >>"$log" 2>&1 ||
        fail "download of $url failed"
    mv "$tarball.part" "$tarball"
    check_sum || {
        rm -f "$tarball"
        fail "sha256 mismatch for $url (want $sha256)"
    }
fi

src=$dir/src
build=$dir/build
rm -rf "$src" "$build" "$prefix"
mkdir -p "$src"
tar -xzf "$tarball" -C "$src" --strip-components=1 >>"$log" 2>&1 || fail "cannot unpack $tarball"
echo "catch2-v3: building Catch2 $version into $prefix" >&2
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_CXX_STANDARD=20 -DCMAKE_UNITY_BUILD=ON -DCATCH_INSTALL_DOCS=OFF \
    -DCATCH_INSTALL_EXTRAS=ON -DCATCH_BUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$prefix" \
    >>"$log" 2>&1 || fail "configure failed"
cmake --build "$build" -j "${CATCH2_JOBS:-2}" >>"$log" 2>&1 || fail "build failed"
cmake --install "$build" >>"$log" 2>&1 || fail "install failed"
[ -f "$prefix/include/catch2/catch_all.hpp" ] && [ -n "$(find "$prefix" -name catch2-with-main.pc)" ] ||
    fail "install incomplete"
cp "$build/.ninja_log" "$dir/build.ninja_log" 2>/dev/null || true # per-file build times
rm -rf "$src" "$build"
touch "$stamp"
echo "$prefix"
