// A program that uses an installed (or embedded) asio-oidc the way an application does:
// the umbrella header, error codes, a token response (JSON: simdjson), HS256 (libcrypto),
// and an Asio coroutine with a TLS context. Only stable, documented API.
// Built by every consumer test (CMake find_package / add_subdirectory, pkg-config, meson).
#include <oidc/oidc.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "consumer check failed: %s\n", what);
        ++failures;
    }
}

asio::awaitable<std::error_code> wait_briefly() {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
    auto [ec] = co_await timer.async_wait(oidc::net::use_nothrow_awaitable);
    co_return ec ? ec : make_error_code(oidc::errc::timed_out);
}

} // namespace

int main() {
    std::error_code ec = oidc::errc::token_expired;
    check(ec.category().name() == std::string("oidc"), "category name");
    check(oidc::error_name(ec) == "token_expired", "error_name");
    check(ec.message() == "token expired", "message");

    oidc::diagnostics diag;
    diag.error = "invalid_grant";
    diag.http_status = 400;
    try {
        throw oidc::oauth_error(oidc::errc::invalid_grant, diag);
    } catch (const oidc::oauth_error& e) {
        check(e.code() == oidc::errc::invalid_grant, "oauth_error code");
        check(e.diag().http_status == 400, "oauth_error diagnostics");
    }

    // JSON through the library (links simdjson): a Keycloak-style token response.
    oidc::token_set tokens;
    oidc::diagnostics token_diag;
    const auto now = oidc::clock::now();
    ec = oidc::parse_token_response(
        R"({"access_token":"a.b.c","token_type":"Bearer","expires_in":300,"refresh_token":"r"})",
        200, now, tokens, token_diag);
    check(!ec, "parse_token_response");
    check(tokens.access_valid(now) && tokens.refresh_valid(now), "token_set validity");
    ec = oidc::parse_token_response(R"({"error":"invalid_grant"})", 400, now, tokens, token_diag);
    check(ec == oidc::errc::invalid_grant && token_diag.http_status == 400, "OAuth error body");

    // JOSE through the library (links libcrypto): HS256 sign and verify.
    const auto key = oidc::jose::jwk::from_secret("0123456789abcdef0123456789abcdef");
    std::string sig;
    check(!oidc::jose::sign(oidc::jose::alg::HS256, key, "header.payload", sig), "sign");
    check(!oidc::jose::verify(oidc::jose::alg::HS256, key, "header.payload", sig), "verify");
    check(oidc::jose::verify(oidc::jose::alg::HS256, key, "header.payload2", sig) ==
              oidc::errc::signature_invalid,
          "verify rejects a changed input");

    // OpenSSL through asio::ssl (the library's TLS layer links it).
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.set_verify_mode(asio::ssl::verify_peer);

    // An Asio C++20 coroutine with the library's nothrow completion token.
    asio::io_context io;
    std::error_code result;
    asio::co_spawn(io, wait_briefly(), [&](std::exception_ptr ep, std::error_code r) {
        check(!ep, "coroutine threw");
        result = r;
    });
    io.run();
    check(result == oidc::errc::timed_out, "coroutine result");

    std::printf("asio-oidc %d.%d.%d consumer: %s\n", OIDC_VERSION_MAJOR, OIDC_VERSION_MINOR,
                OIDC_VERSION_PATCH, failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
