// oidc::jwks_cache against the real test provider: the resource-server path.
#include <oidc/client.hpp>
#include <oidc/jwks_cache.hpp>

#include "env.hpp"

#include <asio/steady_timer.hpp>

#include <memory>
#include <vector>

using namespace std::chrono_literals;
using oidc::net::use_nothrow_awaitable;
using exec = asio::any_io_executor;

namespace {

// GCC 12.2 destroys some temporaries of a co_await full-expression twice (PR 99576): the
// tests pass only named variables or prvalues that initialize a parameter directly.

oidc::client_options basic_opts() {
    return it::options(it::env("OIDC_TEST_BASIC_CLIENT_ID"),
                       oidc::client_secret_basic{it::env("OIDC_TEST_BASIC_CLIENT_SECRET")});
}

oidc::jose::validation_options access_token_rules() {
    oidc::jose::validation_options vo;
    vo.kind = oidc::jose::validation_options::profile::access_token;
    vo.issuer = it::env("OIDC_TEST_ISSUER");
    vo.audiences = {it::env("OIDC_TEST_AUDIENCE")};
    return vo;
}

oidc::grant alice() {
    return oidc::password_grant{it::env("OIDC_TEST_USER"), it::env("OIDC_TEST_PASSWORD"), {}, {}};
}

std::string kid_of(const std::string& jwt) {
    oidc::jose::jws j;
    REQUIRE_FALSE(oidc::jose::jws::parse(jwt, j));
    return j.header().kid;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(use_nothrow_awaitable);
}

} // namespace

TEST_CASE("jwks_cache: verify, unknown kid after rotation refetches once",
          "[integration][jwks_cache]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        co_await it::hook("/test/reset");
        oidc::client c(ex, basic_opts());
        oidc::jwks_cache_options o;
        o.refetch_cooldown = 3s;
        oidc::jwks_cache cache(c, o);
        auto t = co_await c.get_token(alice());
        auto claims = co_await cache.verify(t.access_token, access_token_rules());
        CHECK(claims.sub() == it::env("OIDC_TEST_USER_SUB"));
        CHECK(cache.fetch_count() == 1);
        claims = co_await cache.verify(t.access_token, access_token_rules());
        CHECK(cache.fetch_count() == 1); // cached

        // A wrong audience is refused (claims checked after the signature).
        auto vo = access_token_rules();
        vo.audiences = {"another-api"};
        auto [aec, ac] = co_await cache.verify(t.access_token, vo, use_nothrow_awaitable);
        CHECK(aec == oidc::errc::audience_mismatch);

        // Rotation: the new kid is unknown to the cache, which refetches once (after the
        // cooldown of the first fetch).
        co_await sleep_for(3100ms);
        co_await it::hook("/test/rotate-keys?keep=1");
        auto t2 = co_await c.get_token(alice());
        CHECK(kid_of(t2.access_token) != kid_of(t.access_token));
        auto claims2 = co_await cache.verify(t2.access_token, access_token_rules());
        CHECK(claims2.sub() == it::env("OIDC_TEST_USER_SUB"));
        CHECK(cache.fetch_count() == 2);
        // The old token still verifies (old key kept) without another fetch.
        co_await cache.verify(t.access_token, access_token_rules());
        CHECK(cache.fetch_count() == 2);

        // A token with a kid nobody knows, right after that fetch: within the cooldown, no
        // further fetch.
        auto dot = t2.access_token.find('.');
        std::string forged =
            oidc::detail::base64url_nopad(R"({"alg":"RS256","kid":"no-such-kid","typ":"at+jwt"})") +
            t2.access_token.substr(dot);
        auto [ec, c3] = co_await cache.verify(forged, access_token_rules(), use_nothrow_awaitable);
        CHECK(ec == oidc::errc::key_not_found);
        CHECK(cache.fetch_count() == 2);
        // A further rotation: after the cooldown the new kid is fetched.
        co_await it::hook("/test/rotate-keys?keep=1");
        auto t3 = co_await c.get_token(alice());
        co_await sleep_for(3100ms);
        co_await cache.verify(t3.access_token, access_token_rules());
        CHECK(cache.fetch_count() == 3);
    });
}

TEST_CASE("jwks_cache: single flight and stale-if-error", "[integration][jwks_cache]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        co_await it::hook("/test/reset");
        oidc::client c(ex, basic_opts());
        auto t = co_await c.get_token(alice());
        oidc::jwks_cache_options o;
        o.url = it::env("OIDC_TEST_JWKS_URI");
        o.http = it::http_options();
        o.default_ttl = o.min_ttl = o.max_ttl = 1s;
        o.refetch_cooldown = 0s;
        o.max_stale = 60s;
        oidc::jwks_cache cache(ex, o);

        // 50 concurrent callers, one request.
        auto before = co_await it::hook_get("/test/stats");
        auto done = std::make_shared<int>(0);
        auto failed = std::make_shared<int>(0);
        for (int i = 0; i < 50; ++i)
            cache.get("", [done, failed](std::error_code ec,
                                         std::shared_ptr<const oidc::jose::jwk_set> k) {
                ++*done;
                if (ec || !k || k->empty())
                    ++*failed;
            });
        for (int i = 0; i < 100 && *done < 50; ++i)
            co_await sleep_for(50ms);
        CHECK(*done == 50);
        CHECK(*failed == 0);
        CHECK(cache.fetch_count() == 1);
        (void)before;

        // The keys endpoint goes down; after expiry the cached keys keep answering.
        co_await it::hook("/test/fail?status=503&count=100&route=jwks");
        co_await sleep_for(1100ms);
        auto claims = co_await cache.verify(t.access_token, access_token_rules());
        CHECK(claims.sub() == it::env("OIDC_TEST_USER_SUB"));
        CHECK(cache.fetch_count() == 2); // it tried

        // A fresh cache with the endpoint down reports the failure with diagnostics.
        oidc::jwks_cache cold(ex, o);
        auto [ec, keys] = co_await cold.get("", use_nothrow_awaitable);
        CHECK(ec == oidc::errc::temporarily_unavailable);
        CHECK_FALSE(keys);
        co_await it::hook("/test/reset");
    });
}
