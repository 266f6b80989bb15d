# Packaging stages (sourced by scripts/test.sh; uses $root, $out, $jobs, configure_build).
#   packaging: installs asio-oidc (CMake and meson) into $out/pkg-prefix* and builds every
#              consumer in tests/consumer/: find_package (g++, clang), add_subdirectory,
#              pkg-config with plain g++, meson through pkg-config, meson subproject, and
#              the vcpkg port run through stand-ins for the vcpkg functions.
#   meson:     configures, builds and runs the unit and ODR tests with meson and g++, against
#              Catch2 v3 (scripts/catch2-v3.sh), the unit files compiled in unity blocks.
# Catch2 v3: Debian 12 ships only Catch2 2.13; tests include tests/support/catch.hpp,
# which picks <catch2/catch_all.hpp> (v3) when present, and meson looks for
# catch2-with-main (v3) before catch2 (v2).

pkg_say() { echo "---- packaging: $*"; }

# One version everywhere: CMake project(), meson project(), config.hpp, vcpkg.json.
pkg_check_versions() {
    local cm me hp vj
    cm=$(sed -n 's/^project(asio-oidc VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
    me=$(sed -n "s/^  version: '\([0-9.]*\)',/\1/p" "$root/meson.build")
    hp=$(awk '/#define OIDC_VERSION_(MAJOR|MINOR|PATCH)/ {v = v sep $3; sep = "."} END {print v}' \
        "$root/include/oidc/detail/config.hpp")
    vj=$(sed -n 's/^  "version": "\([0-9.]*\)",/\1/p' "$root/ports/asio-oidc/vcpkg.json")
    echo "versions: CMake $cm, meson $me, config.hpp $hp, vcpkg.json $vj"
    [ -n "$cm" ] && [ "$cm" = "$me" ] && [ "$cm" = "$hp" ] && [ "$cm" = "$vj" ] || {
        echo "version mismatch"
        return 1
    }
}

# Removes installed headers that include/oidc no longer has (installs are incremental).
pkg_drop_stale_headers() { # prefix
    local f
    [ -d "$1/include/oidc" ] || return 0
    while IFS= read -r f; do
        [ -e "$root/include/$f" ] || rm -f "$1/include/$f"
    done < <(cd "$1/include" && find oidc -type f)
}

# The installed headers are exactly include/oidc.
pkg_check_headers() { # prefix
    diff <(cd "$root/include" && find oidc -type f | sort) <(cd "$1/include" && find oidc -type f | sort) || {
        echo "installed headers differ from include/oidc"
        return 1
    }
}

pkg_cmake_install() { # prefix
    local prefix=$1 build=$out/pkg/cmake
    # Header-only: configure and install, nothing to build.
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
        -DASIO_OIDC_BUILD_TESTS=OFF -DASIO_OIDC_BUILD_EXAMPLES=OFF \
        >"$build.configure.log" 2>&1 || {
        cat "$build.configure.log"
        return 1
    }
    # Incremental: installed files keep their times, so consumer builds are reused.
    cmake --install "$build" --prefix "$prefix" >"$build.install.log" || return 1
    pkg_drop_stale_headers "$prefix"
    local f
    for f in include/oidc/oidc.hpp share/asio-oidc/asio-oidc-config.cmake \
        share/asio-oidc/asio-oidc-config-version.cmake share/asio-oidc/asio-oidc-targets.cmake \
        share/asio-oidc/asio-oidc-dependencies.cmake share/pkgconfig/asio-oidc.pc; do
        [ -f "$prefix/$f" ] || {
            echo "not installed: $f"
            return 1
        }
    done
    [ ! -e "$prefix/lib" ] || {
        echo "a header-only install has no lib/"
        return 1
    }
    # ARCH_INDEPENDENT: no pointer-size check, a 32-bit consumer may use it too.
    grep -A1 'requested no architecture check' "$prefix/share/asio-oidc/asio-oidc-config-version.cmake" |
        grep -q 'if("TRUE")' || {
        echo "the version file is not ARCH_INDEPENDENT"
        return 1
    }
    pkg_check_headers "$prefix"
}

pkg_cmake_configure_only() { # name, source dir, extra cmake args...
    local name=$1 src=$2 build=$out/pkg/$1
    shift 2
    rm -rf "$build"
    cmake -S "$src" -B "$build" -G Ninja "$@" >"$build.configure.log" 2>&1 || {
        cat "$build.configure.log"
        return 1
    }
}

pkg_cmake_consumer() { # name, source dir, extra cmake args...
    local name=$1 src=$2 build=$out/pkg/$1
    shift 2
    cmake -S "$src" -B "$build" -G Ninja "$@" >"$build.configure.log" 2>&1 || {
        cat "$build.configure.log"
        return 1
    }
    cmake --build "$build" -j "$jobs" >"$build.build.log" 2>&1 || {
        cat "$build.build.log"
        return 1
    }
    "$build/consumer"
}

packaging_stage() {
    local prefix=$out/pkg-prefix mprefix=$out/pkg-prefix-meson
    mkdir -p "$out/pkg"
    pkg_say "versions" && pkg_check_versions || return 1

    pkg_say "cmake --install into $prefix" && pkg_cmake_install "$prefix" || return 1

    # Two lanes at once (each consumer is one single-threaded compile): the CMake and vcpkg
    # consumers, and the pkg-config / meson ones. Each lane's output is shown when both are done.
    local rc1=0 rc2=0
    pkg_lane_cmake "$prefix" >"$out/pkg/lane-cmake.log" 2>&1 &
    local lane1=$!
    pkg_lane_other "$prefix" "$mprefix" >"$out/pkg/lane-other.log" 2>&1 || rc2=$?
    wait "$lane1" || rc1=$?
    cat "$out/pkg/lane-cmake.log" "$out/pkg/lane-other.log"
    [ "$rc1" = 0 ] && [ "$rc2" = 0 ]
}

pkg_lane_cmake() { # prefix
    local prefix=$1
    pkg_say "find_package consumer (g++)" &&
        pkg_cmake_consumer find_package-gcc "$root/tests/consumer/find_package" \
            -DCMAKE_CXX_COMPILER=g++ -DCMAKE_PREFIX_PATH="$prefix" \
            -DASIO_OIDC_CONSUMER_VERSION=0.1 || return 1
    pkg_say "find_package consumer (clang++-16)" &&
        pkg_cmake_consumer find_package-clang "$root/tests/consumer/find_package" \
            -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_PREFIX_PATH="$prefix" || return 1
    pkg_say "find_package refuses an incompatible version" &&
        if cmake -S "$root/tests/consumer/find_package" -B "$out/pkg/find_package-badversion" \
            -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DASIO_OIDC_CONSUMER_VERSION=99.0 \
            >"$out/pkg/find_package-badversion.log" 2>&1; then
            echo "find_package(asio-oidc 99.0) succeeded"
            return 1
        fi

    pkg_say "find_package uses an Asio CONFIG package when there is one (as vcpkg's)" &&
        pkg_cmake_configure_only find_package-asio-config "$root/tests/consumer/find_package" \
            -DCMAKE_PREFIX_PATH="$prefix" -Dasio_DIR="$root/tests/consumer/asio_config_package" \
            -DASIO_OIDC_CONSUMER_EXPECT_ASIO_PACKAGE=ON || return 1
    pkg_say "find_package reports a missing dependency" &&
        mkdir -p "$out/pkg/no-simdjson" &&
        echo 'set(simdjson_FOUND FALSE)' >"$out/pkg/no-simdjson/simdjson-config.cmake" &&
        if pkg_cmake_configure_only find_package-nosimdjson "$root/tests/consumer/find_package" \
            -DCMAKE_PREFIX_PATH="$prefix" -Dsimdjson_DIR="$out/pkg/no-simdjson" >/dev/null ||
            ! grep -q 'simdjson" is considered to\|dependency simdjson could not be found' "$out/pkg/find_package-nosimdjson.configure.log"; then
            echo "find_package(asio-oidc) without simdjson did not fail with a clear message"
            return 1
        fi

    pkg_say "add_subdirectory consumer" &&
        pkg_cmake_consumer add_subdirectory "$root/tests/consumer/add_subdirectory" \
            -DCMAKE_CXX_COMPILER=g++ -DASIO_OIDC_SOURCE_DIR="$root" || return 1
    [ ! -e "$out/pkg/add_subdirectory/asio-oidc/tests" ] &&
        [ ! -e "$out/pkg/add_subdirectory/asio-oidc/examples" ] &&
        [ "$(ctest --test-dir "$out/pkg/add_subdirectory" -N | grep -c 'Test *#')" = 1 ] || {
        echo "add_subdirectory(asio-oidc) brought in tests or examples"
        return 1
    }

    pkg_say "vcpkg port (portfile run with stand-ins for the vcpkg functions)" &&
        cmake -DWORK_DIR="$out/pkg/vcpkg" -DSOURCE_DIR="$root" -DCXX=g++ \
            -P "$root/tests/consumer/vcpkg_port/run.cmake" || return 1
}

pkg_lane_other() { # prefix, meson prefix
    local prefix=$1 mprefix=$2
    pkg_say "pkg-config + plain g++" && (
        export PKG_CONFIG_PATH=$prefix/share/pkgconfig
        exe=$out/pkg/pkg_config_consumer
        pkg-config --validate asio-oidc && pkg-config --exists 'asio-oidc >= 0.1' || exit 1
        # Rebuilt only when the program, the headers or the .pc changed.
        if [ ! -x "$exe" ] || [ -n "$(find "$root/tests/consumer/main.cpp" "$prefix/include" \
            "$prefix/share/pkgconfig" -newer "$exe" -print -quit)" ]; then
            # shellcheck disable=SC2046
            g++ -std=c++20 -Wall -Wextra -Werror "$root/tests/consumer/main.cpp" \
                $(pkg-config --cflags --libs asio-oidc) -o "$exe" || exit 1
        fi
        "$exe"
    ) || return 1

    pkg_say "meson consumer through pkg-config" &&
        pkg_meson_consumer meson_pkgconfig "PKG_CONFIG_PATH=$prefix/share/pkgconfig" || return 1
    pkg_say "meson consumer with asio-oidc as a subproject" &&
        pkg_meson_consumer meson_subproject "PKG_CONFIG_PATH=" || return 1

    pkg_say "meson install into $mprefix (same layout as CMake's)" && (
        build=$out/pkg/meson-install
        [ -f "$build/meson-private/coredata.dat" ] || {
            rm -rf "$build"
            meson setup "$build" "$root" -Dtests=disabled --prefix="$mprefix" >"$build.log" 2>&1 ||
                { cat "$build.log"; exit 1; }
        }
        meson setup --reconfigure "$build" "$root" >"$build.log" 2>&1 &&
            meson install -C "$build" >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
        pkg_drop_stale_headers "$mprefix"
        pkg_check_headers "$mprefix" || exit 1
        # Both build systems write the same pkg-config data (the program built against the
        # CMake one above).
        local_flags() { # prefix
            PKG_CONFIG_PATH=$1/share/pkgconfig pkg-config --cflags --libs --print-requires asio-oidc |
                sed "s|$1/share/pkgconfig/../..|$1|g; s|$1|PREFIX|g; s/  */ /g" | tr ' ' '\n' | sort -u
        }
        diff <(local_flags "$prefix") <(local_flags "$mprefix") || {
            echo "meson's asio-oidc.pc differs from CMake's"
            exit 1
        }
        [ "$(PKG_CONFIG_PATH=$mprefix/share/pkgconfig pkg-config --modversion asio-oidc)" = \
            "$(PKG_CONFIG_PATH=$prefix/share/pkgconfig pkg-config --modversion asio-oidc)" ]
    ) || return 1
}

pkg_meson_consumer() { # name, env assignment
    local name=$1 build=$out/pkg/$1
    (
        # shellcheck disable=SC2163 # "$2" is NAME=VALUE
        export "$2"
        if [ -f "$build/meson-private/coredata.dat" ]; then
            meson setup --reconfigure "$build" "$root/tests/consumer/$name" >"$build.log" 2>&1
        else
            rm -rf "$build"
            CXX=g++ meson setup "$build" "$root/tests/consumer/$name" >"$build.log" 2>&1
        fi || exit 1
        meson compile -C "$build" -j "$jobs" >>"$build.log" 2>&1 &&
            meson test -C "$build" >>"$build.log" 2>&1 &&
            "$build/consumer"
    ) || {
        cat "$build.log"
        [ -f "$build/meson-logs/testlog.txt" ] && cat "$build/meson-logs/testlog.txt"
        return 1
    }
}

meson_stage() {
    local build=$out/meson prefix
    # Catch2 v3 (scripts/catch2-v3.sh, shared with the clang-asan stage) through pkg-config;
    # the unit files in unity blocks (tests/meson.build), the header-alone TUs left to the
    # CMake g++ stage (same compiler, same check), line tables only.
    prefix=$(catch2_v3_prefix) || return 1
    local opts=(-Dtests=enabled -Dtest_unity_blocks=true -Dheader_tests=false -Dcpp_args=-g1
        "-Dpkg_config_path=$prefix/share/pkgconfig")
    # meson has no glob: reconfigure every time so that new test files are seen.
    if [ -f "$build/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$build" "$root" "${opts[@]}" >"$build.setup.log" 2>&1
    else
        rm -rf "$build"
        CXX=g++ meson setup "$build" "$root" "${opts[@]}" >"$build.setup.log" 2>&1
    fi || {
        cat "$build.setup.log"
        return 1
    }
    grep -q "dependency catch2-with-main found: YES 3\." "$build.setup.log" || {
        echo "meson: Catch2 v3 (catch2-with-main) from $prefix was not used"
        grep -i catch2 "$build.setup.log"
        return 1
    }
    meson compile -C "$build" -j "$jobs" >"$build.build.log" 2>&1 || {
        cat "$build.build.log"
        return 1
    }
    meson test -C "$build" --print-errorlogs || return 1
    # Debian's Catch2 2.13 (no catch2-with-main): the fallback still configures (setup only; the
    # CMake g++ stage builds and runs the suite with v2).
    local v2=$out/meson-catch2-v2
    rm -rf "$v2"
    CXX=g++ meson setup "$v2" "$root" -Dtests=enabled -Dheader_tests=false \
        -Dpkg_config_path= >"$v2.setup.log" 2>&1 &&
        grep -q "dependency catch2 found: YES 2\." "$v2.setup.log" || {
        echo "meson: the Catch2 v2 fallback does not configure"
        cat "$v2.setup.log"
        return 1
    }
}

register_stage packaging packaging_stage
register_stage meson meson_stage
