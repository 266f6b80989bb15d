// asio-oidc examples: what every client example does the same way - run its coroutine to the
// end, print a token without showing it, and check an access token as the API does.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/jwt.hpp>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>

namespace oidc_example {

/// How a token or secret is printed: never its text, only its size and a 16-bit tag (enough
/// to tell two tokens apart in a log, nothing to replay).
inline std::string preview(std::string_view secret) {
    static constexpr char hex[] = "0123456789abcdef";
    const auto h = std::hash<std::string_view>{}(secret);
    std::string tag;
    for (int shift = 12; shift >= 0; shift -= 4)
        tag += hex[(h >> shift) & 0xf];
    return "(hidden: " + std::to_string(secret.size()) + " bytes, tag " + tag + ")";
}

/// Runs `main` (the example's coroutine, returning the exit status) on `io` until it ends,
/// then stops `io` (timers of sessions and connection pools need not run down). An exception
/// is printed as "program: what" and gives exit status 1.
inline int run_main(std::string_view program, asio::io_context& io, asio::awaitable<int> main) {
    int rc = 1;
    asio::co_spawn(io, std::move(main), [&](std::exception_ptr e, int r) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << program << ": " << x.what() << "\n";
            }
        } else {
            rc = r;
        }
        io.stop();
    });
    io.run();
    return rc;
}

/// The whole main() of a client example: `read(argc, argv, settings)` (false: exit status 2,
/// the problem was printed), then `run(settings)` on an io_context.
template <class Settings>
int example_main(int argc, char** argv, std::string_view program,
                 bool (*read)(int, char**, Settings&), asio::awaitable<int> (*run)(Settings)) {
    Settings s;
    if (!read(argc, argv, s))
        return 2;
    asio::io_context io;
    return run_main(program, io, run(std::move(s)));
}

/// The checks of an RFC 9068 access token for `audience` from `issuer`: the asymmetric
/// algorithms the test provider can sign with (never `none` or HS*).
inline oidc::jose::validation_options access_token_checks(std::string issuer,
                                                          std::string audience) {
    oidc::jose::validation_options vo;
    vo.kind = oidc::jose::validation_options::profile::access_token;
    vo.issuer = std::move(issuer);
    vo.audiences = {std::move(audience)};
    vo.algorithms = {oidc::jose::alg::RS256, oidc::jose::alg::PS256, oidc::jose::alg::ES256,
                     oidc::jose::alg::ES384, oidc::jose::alg::ES512, oidc::jose::alg::EdDSA};
    return vo;
}

} // namespace oidc_example
