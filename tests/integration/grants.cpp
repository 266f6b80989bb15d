// Token exchange (RFC 8693) and JWT bearer (RFC 7523) grants through oidc::client against the
// real test provider.
#include <oidc/client.hpp>

#include "env.hpp"

using namespace std::chrono_literals;
using oidc::net::use_nothrow_awaitable;
using exec = asio::any_io_executor;

TEST_CASE("token exchange (RFC 8693) and jwt-bearer (RFC 7523) grants",
          "[integration][client][grants]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(
            ex, it::options(it::env("OIDC_TEST_POST_CLIENT_ID"),
                            oidc::client_secret_post{it::env("OIDC_TEST_POST_CLIENT_SECRET")}));
        oidc::grant pw =
            oidc::password_grant{it::env("OIDC_TEST_USER"), it::env("OIDC_TEST_PASSWORD"), {}, {}};
        auto subject = co_await c.get_token(pw);

        oidc::token_exchange_grant te;
        te.subject_token = subject.access_token;
        te.audience = "eat-backend";
        oidc::grant exchange = te;
        auto exchanged = co_await c.get_token(exchange);
        CHECK_FALSE(exchanged.access_token.empty());
        CHECK(exchanged.issued_token_type == "urn:ietf:params:oauth:token-type:access_token");

        // A bad subject token is refused with an OAuth error.
        te.subject_token = "not-a-token";
        oidc::grant bad = te;
        oidc::diagnostics d;
        auto [ec, t] = co_await c.get_token(bad, d, use_nothrow_awaitable);
        CHECK(ec);
        CHECK(d.http_status == 400);

        // JWT bearer: an assertion signed with the private_key_jwt client's key, iss = the
        // calling client, sub = the user, aud = the issuer.
        auto key =
            it::read_private_key(it::env("OIDC_TEST_PKJWT_KEY"), it::env("OIDC_TEST_PKJWT_KID"));
        auto now =
            std::chrono::duration_cast<std::chrono::seconds>(oidc::clock::now().time_since_epoch())
                .count();
        using oidc::detail::json::member;
        using oidc::detail::json::value;
        oidc::detail::json::object claims;
        claims.push_back(member{"iss", value(it::env("OIDC_TEST_POST_CLIENT_ID"))});
        claims.push_back(member{"sub", value(it::env("OIDC_TEST_USER"))});
        claims.push_back(member{"aud", value(it::env("OIDC_TEST_ISSUER"))});
        claims.push_back(member{"iat", value(static_cast<std::int64_t>(now))});
        claims.push_back(member{"exp", value(static_cast<std::int64_t>(now + 300))});
        claims.push_back(member{"jti", value(oidc::detail::random_token(16))});
        std::string assertion;
        REQUIRE_FALSE(oidc::jose::sign_compact(oidc::jose::alg::ES256, key,
                                               oidc::detail::json::dump(value(claims)), assertion));
        oidc::grant jb = oidc::jwt_bearer_grant{assertion, {}, {}};
        auto [jec, jt] = co_await c.get_token(jb, d, use_nothrow_awaitable);
        CHECK_FALSE(jec);
        CHECK_FALSE(jt.access_token.empty());
        CHECK(jt.refresh_token.empty());
    });
}
