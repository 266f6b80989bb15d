// oidc::session against the real test provider: single flight counted at the provider,
// rotation, fallback to the original grant, provider down and recovery, 401 replay against a
// small protected HTTPS API.
#include <oidc/session.hpp>

#include "bearer_api.hpp"
#include "env.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
using oidc::net::use_nothrow_awaitable;
using exec = asio::any_io_executor;

namespace {

// A counter of /test/stats: `"token":{"total":N` or a grant type's count.
int stat(const std::string& stats, std::string_view key) {
    std::string k = "\"" + std::string(key) + "\":";
    auto t = stats.find("\"token\":");
    if (t == std::string::npos)
        return -1;
    auto p = stats.find(k, t);
    if (p == std::string::npos)
        return 0;
    return std::atoi(stats.c_str() + p + k.size());
}

oidc::client_options edge() {
    return it::options(it::env("OIDC_TEST_PUBLIC_CLIENT_ID"));
}

oidc::grant alice() {
    return oidc::password_grant{it::env("OIDC_TEST_USER"), it::env("OIDC_TEST_PASSWORD"), {}, {}};
}

oidc::session_options quiet() {
    oidc::session_options o;
    o.jitter_seed = 11;
    o.backoff.initial = 100ms;
    o.backoff.max = 400ms;
    return o;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(use_nothrow_awaitable);
}

// quiet() starting from a token set of the provider made stale (its refresh token still
// valid).
asio::awaitable<oidc::session_options> stale_start(oidc::client& c) {
    auto o = quiet();
    o.initial = co_await c.get_token(alice());
    o.initial->expires_at = oidc::clock::now() - 1s;
    co_return o;
}

// Starts n coroutines that each await s.token(diag) and then call
// each(ec, token, diag) and count themselves in `done`.
template <class F>
void spawn_waiters(exec ex, oidc::session& s, int n, int& done, F each) {
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            ex,
            [&s, &done, each]() -> asio::awaitable<void> {
                oidc::diagnostics d;
                auto [ec, t] = co_await s.token(d, use_nothrow_awaitable);
                each(ec, t, d);
                ++done;
            },
            asio::detached);
}

// Waits (bounded by `limit`) until `done` reaches n.
asio::awaitable<void> wait_count(const int& done, int n, std::chrono::milliseconds limit) {
    for (auto waited = 0ms; done < n && waited < limit; waited += 5ms)
        co_await sleep_for(5ms);
}

} // namespace

TEST_CASE("session: 1,000 coroutines on a stale token make one token request",
          "[integration][session]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, edge());
        auto opts = co_await stale_start(c);
        auto reset = co_await it::hook("/test/stats/reset");
        CHECK(reset.status == 200);
        oidc::session s({c, alice()}, opts);
        constexpr int n = 1000;
        int done = 0, ok = 0;
        std::set<std::string> distinct;
        spawn_waiters(ex, s, n, done, [&](std::error_code ec, oidc::token_ref t, auto&) {
            if (!ec && !t.value().empty()) {
                ++ok;
                distinct.insert(std::string(t.value()));
            }
        });
        co_await wait_count(done, n, 15s);
        CHECK(done == n);
        CHECK(ok == n);
        CHECK(distinct.size() == 1);
        auto stats = co_await it::hook_get("/test/stats");
        CHECK(stat(stats, "total") == 1);
        CHECK(stat(stats, "refresh_token") == 1);
        CHECK(stat(stats, "password") == 0);
    });
}

TEST_CASE("session: refresh token rotation across many refreshes", "[integration][session]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, edge());
        auto opts = quiet();
        int fallbacks = 0, refreshed = 0;
        opts.on_event = [&](const oidc::session_event& e) {
            fallbacks += e.kind == oidc::session_event_kind::fallback;
            refreshed += e.kind == oidc::session_event_kind::refreshed;
        };
        co_await it::hook("/test/stats/reset");
        oidc::session s({c, alice()}, opts);
        std::set<std::string> access, refresh;
        constexpr int rounds = 15;
        for (int i = 0; i <= rounds; ++i) {
            auto t = co_await s.token();
            access.insert(std::string(t.value()));
            refresh.insert(t.tokens().refresh_token);
            REQUIRE(s.invalidate(t));
        }
        CHECK(access.size() == rounds + 1);
        CHECK(refresh.size() == rounds + 1); // rotated every time, the newest always used
        CHECK(fallbacks == 0);
        CHECK(refreshed == rounds);
        auto stats = co_await it::hook_get("/test/stats");
        CHECK(stat(stats, "password") == 1);
        CHECK(stat(stats, "refresh_token") == rounds);
        CHECK(stat(stats, "400") == 0);
    });
}

TEST_CASE("session: expired or rejected refresh token falls back to the original grant",
          "[integration][session]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, edge());
        {
            auto opts = co_await stale_start(c);
            opts.initial->refresh_expires_at = oidc::clock::now() - 1s;
            co_await it::hook("/test/stats/reset");
            oidc::session s({c, alice()}, opts);
            auto t = co_await s.token();
            CHECK_FALSE(t.value().empty());
            auto stats = co_await it::hook_get("/test/stats");
            CHECK(stat(stats, "password") == 1);
            CHECK(stat(stats, "refresh_token") == 0);
        }
        {
            auto opts = co_await stale_start(c);
            opts.initial->refresh_token = "not-a-refresh-token-of-this-provider";
            int fallbacks = 0;
            opts.on_event = [&](const oidc::session_event& e) {
                fallbacks += e.kind == oidc::session_event_kind::fallback;
            };
            co_await it::hook("/test/stats/reset");
            oidc::session s({c, alice()}, opts);
            auto t = co_await s.token();
            CHECK_FALSE(t.value().empty());
            CHECK(fallbacks == 1);
            auto stats = co_await it::hook_get("/test/stats");
            CHECK(stat(stats, "refresh_token") == 1);
            CHECK(stat(stats, "password") == 1);
        }
        {
            // A login that needs a person: no replay, reauthentication_required.
            auto opts = co_await stale_start(c);
            opts.initial->refresh_token = "not-a-refresh-token-of-this-provider";
            oidc::session s(
                {c, oidc::authorization_code_grant{"used-code", "http://x/cb", "v", {}}}, opts);
            auto [ec, t] = co_await s.token(use_nothrow_awaitable);
            CHECK(ec == oidc::errc::reauthentication_required);
        }
    });
}

TEST_CASE("session: provider down, every waiter gets the error, then recovery",
          "[integration][session]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, edge());
        auto opts = co_await stale_start(c);
        opts.backoff.max_attempts = 1;
        opts.backoff.initial = 200ms;
        opts.backoff.max = 200ms;
        opts.backoff.jitter = 0;
        co_await it::hook("/test/stats/reset");
        auto f = co_await it::hook("/test/fail?status=503&count=1&route=token");
        CHECK(f.status == 200);
        oidc::session s({c, alice()}, opts);
        constexpr int n = 100;
        int done = 0, same = 0;
        spawn_waiters(ex, s, n, done,
                      [&](std::error_code ec, oidc::token_ref t, const oidc::diagnostics& d) {
                          if (ec == oidc::errc::temporarily_unavailable && d.http_status == 503 &&
                              d.error == "temporarily_unavailable" && !t)
                              ++same;
                      });
        co_await wait_count(done, n, 10s);
        CHECK(done == n);
        CHECK(same == n);
        // Within the backoff window: the same error, no request.
        auto [ec2, t2] = co_await s.token(use_nothrow_awaitable);
        CHECK(ec2 == oidc::errc::temporarily_unavailable);
        auto stats = co_await it::hook_get("/test/stats");
        CHECK(stat(stats, "total") == 1);
        // Recovery.
        co_await sleep_for(250ms);
        auto t3 = co_await s.token();
        CHECK_FALSE(t3.value().empty());
        stats = co_await it::hook_get("/test/stats");
        CHECK(stat(stats, "total") == 2);
    });
}

TEST_CASE("session: call() replays once after a 401 invalid_token from a protected API",
          "[integration][session]") {
    IT_REQUIRE_PROVIDER();
    const auto pki = std::filesystem::path(it::env("OIDC_TEST_CA")).parent_path();
    asio::ssl::context tls(asio::ssl::context::tls_server);
    tls.use_certificate_chain_file((pki / "server.pem").string());
    tls.use_private_key_file((pki / "server.key").string(), asio::ssl::context::pem);
    it::run([&tls](exec ex) -> asio::awaitable<void> {
        oidc_test::bearer_api api(ex, &tls);
        oidc::client c(ex, edge());
        co_await it::hook("/test/stats/reset");
        oidc::session s({c, alice()}, quiet());
        oidc::http::request req;
        req.target = api.url("/api/dossiers");
        auto r1 = co_await s.call(req);
        CHECK(r1.status == 200);
        auto first = s.cached_token();
        REQUIRE(first);
        api.revoke(std::string(first.value()));
        auto r2 = co_await s.call(req);
        CHECK(r2.status == 200);
        CHECK(api.stats().rejected == 1);
        CHECK(api.stats().requests == 3);
        CHECK(s.cached_token().value() != first.value());
        auto stats = co_await it::hook_get("/test/stats");
        CHECK(stat(stats, "password") == 1);
        CHECK(stat(stats, "refresh_token") == 1);
    });
}

TEST_CASE("session: destroying the session while the provider is slow aborts the waiters",
          "[integration][session]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, edge());
        auto opts = co_await stale_start(c);
        co_await it::hook("/test/delay?ms=400&route=token");
        int done = 0, aborted = 0;
        {
            oidc::session s({c, alice()}, opts);
            spawn_waiters(ex, s, 50, done, [&](std::error_code ec, oidc::token_ref, auto&) {
                aborted += ec == asio::error::operation_aborted;
            });
            co_await sleep_for(50ms);
        }
        co_await wait_count(done, 50, 1s);
        CHECK(done == 50);
        CHECK(aborted == 50);
        co_await it::hook("/test/delay?ms=0&route=token");
    });
}
