// Test helpers: fixture files.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace oidc_test {

inline std::string fixture_path(const std::string& rel) {
    return std::string(OIDC_TEST_FIXTURES_DIR) + "/" + rel;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string read_fixture(const std::string& rel) {
    return read_file(fixture_path(rel));
}

} // namespace oidc_test
