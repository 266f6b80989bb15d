// asio-oidc command-line tool: `asio-oidc VERB [options...]`. Verbs are listed in the table
// below; each one lives in its own verb_*.cpp file (see verbs.hpp).
#include "verbs.hpp"

#include <oidc/error.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace oidc_cli {

int report(const std::error_code& ec) {
    std::string_view name = oidc::error_name(ec);
    std::string text = ec.message();
    std::fprintf(stderr, "error: %.*s: %s\n", static_cast<int>(name.empty() ? 7 : name.size()),
                 name.empty() ? "failure" : name.data(), text.c_str());
    return exit_rejected;
}

int usage_error(const verb& v, std::string_view message) {
    if (!message.empty())
        std::fprintf(stderr, "asio-oidc %.*s: %.*s\n", static_cast<int>(v.name.size()),
                     v.name.data(), static_cast<int>(message.size()), message.data());
    std::fprintf(stderr, "%.*s", static_cast<int>(v.usage.size()), v.usage.data());
    return exit_usage;
}

bool read_file(std::string_view path, std::string& out) {
    if (path == "-") {
        std::ostringstream ss;
        ss << std::cin.rdbuf();
        if (std::cin.bad())
            return false;
        out = ss.str();
        return true;
    }
    std::ifstream in{std::string(path), std::ios::binary};
    if (!in)
        return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

} // namespace oidc_cli

namespace {

// The verb table: add a verb by writing verb_NAME.cpp and listing it here.
const oidc_cli::verb* const verbs[] = {
    &oidc_cli::verify_verb,   &oidc_cli::discover_verb,   &oidc_cli::jwks_verb,
    &oidc_cli::token_verb,    &oidc_cli::introspect_verb, &oidc_cli::revoke_verb,
    &oidc_cli::userinfo_verb, &oidc_cli::call_verb,
};

int usage(std::FILE* to) {
    std::fprintf(to, "usage: asio-oidc VERB [options...]\n\nverbs:\n");
    for (const auto* v : verbs)
        std::fprintf(to, "  %-10.*s %.*s\n", static_cast<int>(v->name.size()), v->name.data(),
                     static_cast<int>(v->summary.size()), v->summary.data());
    std::fprintf(to, "\n`asio-oidc VERB --help` shows the options of a verb.\n");
    return to == stdout ? oidc_cli::exit_ok : oidc_cli::exit_usage;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2)
        return usage(stderr);
    std::string_view name = argv[1];
    if (name == "--help" || name == "-h" || name == "help")
        return usage(stdout);
    std::vector<std::string_view> args(argv + 2, argv + argc);
    for (const auto* v : verbs) {
        if (v->name != name)
            continue;
        for (auto a : args)
            if (a == "--help" || a == "-h") {
                std::printf("%.*s", static_cast<int>(v->usage.size()), v->usage.data());
                return oidc_cli::exit_ok;
            }
        try {
            return v->run(args);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: failure: %s\n", e.what());
            return oidc_cli::exit_rejected;
        }
    }
    std::fprintf(stderr, "asio-oidc: unknown verb '%.*s'\n",
                 static_cast<int>(std::min<std::size_t>(name.size(), 32)), name.data());
    return usage(stderr);
}
