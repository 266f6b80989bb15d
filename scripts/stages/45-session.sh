# Stage session-tsan: the threaded oidc::session tests under ThreadSanitizer (clang++-16).
# Builds only tests/unit/session/threaded.cpp (+ Asio compiled once) in a throw-away CMake
# project so that the stage stays fast, then runs the "[session][threaded]" test cases.
session_tsan() {
    local src=$out/session-tsan-src dir=$out/session-tsan
    mkdir -p "$src" "$dir"
    cat >"$src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(oidc_session_tsan LANGUAGES CXX)
include("$root/cmake/asio-oidc-dependencies.cmake")
find_package(Catch2 REQUIRED)
add_executable(session_tsan "$root/tests/unit/session/threaded.cpp"
  "$root/tests/support/lib_asio.cpp")
target_include_directories(session_tsan PRIVATE "$root/include" "$root/tests/support")
target_compile_features(session_tsan PRIVATE cxx_std_20)
target_compile_definitions(session_tsan PRIVATE ASIO_SEPARATE_COMPILATION
  OIDC_TEST_FIXTURES_DIR="$root/tests/fixtures")
target_compile_options(session_tsan PRIVATE -Wall -Wextra -Werror -fsanitize=thread -g -O1)
target_link_options(session_tsan PRIVATE -fsanitize=thread)
target_link_libraries(session_tsan PRIVATE asio::asio OpenSSL::SSL OpenSSL::Crypto
  simdjson::simdjson Threads::Threads Catch2::Catch2WithMain)
EOF
    cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 \
        -DCMAKE_BUILD_TYPE=Debug >"$dir.configure.log" 2>&1 || {
        cat "$dir.configure.log"
        return 1
    }
    cmake --build "$dir" -j "$jobs" || return 1
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        "$dir/session_tsan" "[session][threaded]" --order rand
}
register_stage session-tsan session_tsan
