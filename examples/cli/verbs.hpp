// asio-oidc command-line tool: the verb table's interface. A verb is a function taking its
// arguments (without the program and verb names) and returning the exit status: 0 success,
// 1 rejected / failed (one line "error: <errc name>: <message>" on stderr), 2 bad usage.
#pragma once

#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace oidc_cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_rejected = 1;
inline constexpr int exit_usage = 2;

struct verb {
    std::string_view name;
    std::string_view summary;
    std::string_view usage; ///< full usage text of the verb
    int (*run)(std::span<const std::string_view> args);
};

/// Prints `error: <errc name>: <message>` on stderr and returns exit_rejected.
int report(const std::error_code& ec);
/// Prints `message` and the verb's usage on stderr and returns exit_usage.
int usage_error(const verb& v, std::string_view message);
/// Reads a whole file ("-" is standard input); false when it cannot be read.
bool read_file(std::string_view path, std::string& out);

// The verbs (one file each).
int verify_main(std::span<const std::string_view> args);
extern const verb verify_verb;
// verb_oauth.cpp: the OAuth 2.0 / OpenID Connect operations of oidc::client.
extern const verb discover_verb;
extern const verb jwks_verb;
extern const verb token_verb;
extern const verb introspect_verb;
extern const verb revoke_verb;
extern const verb userinfo_verb;
extern const verb call_verb;

} // namespace oidc_cli
