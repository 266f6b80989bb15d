// asio-oidc example: client_credentials.
//
// Machine to machine: a confidential client authenticates with client_secret_basic
// (RFC 6749 2.3.1) and gets an access token with the client_credentials grant (4.4), then
// asks the provider about it (introspection, RFC 7662) and revokes it (RFC 7009).
// oidc-provider does not introspect or revoke structured (JWT) access tokens on purpose - a
// resource server validates them locally - so the example then verifies the token through
// the keys endpoint instead, as resource_server does; Keycloak introspects them.
//
// Configuration: flags, else environment, else the provider.env file of the local test
// provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help for the list.
#include <oidc/client.hpp>
#include <oidc/jwks_cache.hpp>

#include "common/config.hpp"
#include "common/run.hpp"

#include <asio/io_context.hpp>

#include <iostream>
#include <string>

namespace {

using oidc_example::preview;

struct settings : oidc_example::client_settings {
    std::string scope, audience;
};

bool read_settings(int argc, char** argv, settings& c) {
    oidc_example::config cfg("client_credentials", argc, argv);
    cfg.read_client(c, oidc_example::service_client);
    c.scope = cfg.get("scope", "OIDC_SCOPE");
    c.audience = cfg.get("audience", "OIDC_AUDIENCE", "OIDC_TEST_AUDIENCE", "eat-api");
    return cfg.ok();
}

asio::awaitable<int> run(settings cfg) {
    auto ex = co_await asio::this_coro::executor;

    // 1. A confidential client: discovery finds the token, introspection and revocation URLs.
    // (cfg.client_options(): issuer, client id, client_secret_basic, CA file.)
    oidc::client client(ex, cfg.client_options());

    std::cout << "== 1. client_credentials grant as " << cfg.client_id
              << " (client_secret_basic)\n";
    // (Named arguments, no temporaries inside co_await: GCC 12 destroys those twice, PR 99576.)
    oidc::grant grant = oidc::client_credentials_grant{cfg.scope, {}};
    oidc::diagnostics diag;
    auto [ec, tokens] = co_await client.get_token(grant, diag, oidc::net::use_nothrow_awaitable);
    if (ec) {
        std::cout << "  failed: " << ec.message()
                  << (diag.error.empty() ? "" : " (server said: " + diag.error + ")") << "\n";
        co_return 1;
    }
    std::cout << "  access_token " << preview(tokens.access_token) << ", token_type "
              << tokens.token_type << ", scope \"" << tokens.scope << "\", refresh_token "
              << (tokens.refresh_token.empty() ? "none (RFC 6749 4.4.3)" : "issued") << "\n";

    // 2. Introspection (RFC 7662).
    std::cout << "\n== 2. Introspection\n";
    const std::string hint = "access_token";
    auto [iec, info] =
        co_await client.introspect(tokens.access_token, hint, oidc::net::use_nothrow_awaitable);
    bool checked = false;
    if (!iec) {
        std::cout << "  active " << (info.active ? "true" : "false") << ", client_id "
                  << info.client_id << ", sub " << info.sub << "\n";
        checked = info.active;
    } else {
        std::cout << "  refused: " << iec.message() << "\n"
                  << "  (oidc-provider does not introspect JWT access tokens: a resource server\n"
                  << "   verifies them locally, as below)\n";
        oidc::jwks_cache keys(client, {}); // the jwks_uri of the discovered metadata
        auto vo = oidc_example::access_token_checks(cfg.issuer, cfg.audience);
        auto [vec, claims] =
            co_await keys.verify(tokens.access_token, vo, oidc::net::use_nothrow_awaitable);
        if (vec) {
            std::cout << "  local verification failed: " << vec.message() << "\n";
        } else {
            std::cout << "  verified locally: sub " << claims.sub() << ", client_id "
                      << claims.client_id() << ", aud " << cfg.audience << ", expires in "
                      << claims.exp().value_or(0) - claims.iat().value_or(0) << " s\n";
            checked = true;
        }
    }

    // 3. Revocation (RFC 7009): success also when the token was already invalid.
    std::cout << "\n== 3. Revocation\n";
    auto [rec] =
        co_await client.revoke(tokens.access_token, hint, oidc::net::use_nothrow_awaitable);
    if (!rec) {
        std::cout << "  revoked\n";
        if (!iec) {
            auto [i2, after] = co_await client.introspect(tokens.access_token, hint,
                                                          oidc::net::use_nothrow_awaitable);
            std::cout << "  introspection now: "
                      << (i2             ? i2.message()
                          : after.active ? "active (!)"
                                         : "active false")
                      << "\n";
            if (!i2 && after.active)
                checked = false;
        }
    } else {
        std::cout << "  refused: " << rec.message()
                  << "\n  (JWT access tokens end at their exp; revoke refresh tokens or grants)\n";
    }

    std::cout << (checked ? "\nRESULT: OK\n" : "\nRESULT: FAILED\n");
    co_return checked ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    return oidc_example::example_main(argc, argv, "client_credentials", read_settings, run);
}
