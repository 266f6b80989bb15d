// oidc::basic_session driven by a scripted token source on one thread.
#include "scripted_source.hpp"

#include "catch.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using oidc::errc;
using oidc::fetch_kind;
using oidc_test::make_tokens;
using oidc_test::scripted_source;
using oidc_test::test_session;

namespace {

struct result {
    bool done = false;
    std::error_code ec;
    std::string token;
    oidc::token_ref ref;
    oidc::diagnostics diag;
};

// Runs until `pred` holds (bounded).
template <class Pred>
bool run_until(asio::io_context& ctx, Pred pred, std::chrono::milliseconds limit = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
        ctx.restart();
        ctx.run_for(5ms);
    }
    return pred();
}

// Starts one waiter with a callback handler.
void wait_token(test_session& s, result& r) {
    s.token(r.diag, [&r](std::error_code ec, oidc::token_ref t) {
        r.done = true;
        r.ec = ec;
        r.ref = t;
        r.token = std::string(t.value());
    });
}

oidc::session_options quiet() {
    oidc::session_options o;
    o.margin = 0ms;
    o.margin_fraction = 0;
    o.jitter_seed = 42;
    o.backoff.initial = 10ms;
    o.backoff.max = 50ms;
    return o;
}

bool all_done(const std::vector<result>& v) {
    for (auto& r : v)
        if (!r.done)
            return false;
    return true;
}

} // namespace

TEST_CASE("session: first token() runs the grant once, then serves the cache", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    test_session s(src, quiet());
    CHECK_FALSE(s.cached_token());
    result a, b;
    wait_token(s, a);
    CHECK_FALSE(a.done); // never inline
    REQUIRE(run_until(ctx, [&] { return a.done; }));
    CHECK(!a.ec);
    CHECK(a.token == "at-1");
    wait_token(s, b);
    CHECK_FALSE(b.done);
    REQUIRE(run_until(ctx, [&] { return b.done; }));
    CHECK(b.token == "at-1");
    CHECK(b.ref == a.ref);
    CHECK(src.fetches() == 1);
    CHECK(src.st()->kinds == std::vector<fetch_kind>{fetch_kind::grant});
    CHECK(s.cached_token().value() == "at-1");
}

TEST_CASE("session: 1,000 concurrent coroutines on a stale token make one fetch", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->delay = 20ms;
    auto opts = quiet();
    opts.initial = make_tokens("at-0", "rt-0", -1000ms);
    std::vector<oidc::session_event> events;
    opts.on_event = [&](const oidc::session_event& e) {
        events.push_back(e);
    };
    test_session s(src, std::move(opts));
    constexpr int n = 1000;
    int served = 0;
    std::string first;
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                auto t = co_await s.token();
                if (first.empty())
                    first = std::string(t.value());
                if (t.value() == first)
                    ++served;
            },
            asio::detached);
    REQUIRE(run_until(ctx, [&] { return served == n; }));
    CHECK(src.fetches() == 1);
    CHECK(src.st()->kinds == std::vector<fetch_kind>{fetch_kind::refresh});
    CHECK(src.st()->refresh_tokens_used == std::vector<std::string>{"rt-0"});
    CHECK(first == "at-1");
    REQUIRE(!events.empty());
    CHECK(events.back().kind == oidc::session_event_kind::refreshed);
    CHECK(events.back().waiters == n);
}

TEST_CASE("session: a waiter's own cancellation aborts it at once, the fetch goes on",
          "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->manual = true;
    test_session s(src, quiet());
    std::vector<result> rs(5);
    asio::cancellation_signal sig;
    for (int i = 0; i < 5; ++i) {
        auto& r = rs[i];
        auto h = [&r](std::error_code ec, oidc::token_ref t) {
            r.done = true;
            r.ec = ec;
            r.token = std::string(t.value());
        };
        if (i == 2)
            s.token(asio::bind_cancellation_slot(sig.slot(), h));
        else
            s.token(h);
    }
    ctx.restart();
    ctx.poll();
    CHECK(src.fetches() == 1);
    sig.emit(asio::cancellation_type::terminal);
    REQUIRE(run_until(ctx, [&] { return rs[2].done; }));
    CHECK(rs[2].ec == asio::error::operation_aborted);
    CHECK(rs[2].token.empty());
    for (int i : {0, 1, 3, 4})
        CHECK_FALSE(rs[i].done);
    src.release();
    REQUIRE(run_until(ctx, [&] { return all_done(rs); }));
    for (int i : {0, 1, 3, 4}) {
        CHECK(!rs[i].ec);
        CHECK(rs[i].token == "at-1");
    }
    CHECK(src.fetches() == 1);
}

TEST_CASE("session: a waiter timing out through parallel_group does not cancel the fetch",
          "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->delay = 200ms;
    test_session s(src, quiet());
    std::error_code timed_ec;
    bool timed_done = false;
    std::chrono::steady_clock::duration timed_after{};
    result patient;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto t0 = std::chrono::steady_clock::now();
            asio::steady_timer timer(ctx, 20ms);
            auto [order, ec1, tok, ec2] =
                co_await asio::experimental::make_parallel_group(
                    s.token(oidc::net::deferred), timer.async_wait(oidc::net::deferred))
                    .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            (void)tok;
            (void)ec2;
            timed_after = std::chrono::steady_clock::now() - t0;
            timed_ec = order[0] == 1 ? ec1 : std::error_code();
            timed_done = true;
        },
        asio::detached);
    wait_token(s, patient);
    REQUIRE(run_until(ctx, [&] { return timed_done; }));
    CHECK(timed_ec == asio::error::operation_aborted);
    CHECK(timed_after < 150ms);
    CHECK_FALSE(patient.done);
    REQUIRE(run_until(ctx, [&] { return patient.done; }));
    CHECK(patient.token == "at-1");
    CHECK(src.fetches() == 1);
}

TEST_CASE("session: destroying the session aborts every waiter and the fetch", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->manual = true;
    std::vector<result> rs(50);
    bool closed_event = false;
    {
        auto opts = quiet();
        opts.on_event = [&](const oidc::session_event& e) {
            if (e.kind == oidc::session_event_kind::closed) {
                closed_event = true;
                CHECK(e.waiters == 50);
            }
        };
        test_session s(src, std::move(opts));
        for (auto& r : rs)
            wait_token(s, r);
        ctx.restart();
        ctx.poll();
        CHECK(src.fetches() == 1);
    }
    REQUIRE(run_until(ctx, [&] { return all_done(rs); }));
    for (auto& r : rs)
        CHECK(r.ec == asio::error::operation_aborted);
    CHECK(closed_event);
    src.release(); // the aborted fetch's late answer goes nowhere
    ctx.restart();
    ctx.run_for(20ms);
}

TEST_CASE("session: a permanent failure reaches every waiter with the same diagnostics",
          "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->script.push_back(oidc_test::fail_with(errc::invalid_client, 401));
    auto opts = quiet();
    opts.backoff.initial = 300ms;
    opts.backoff.max = 300ms;
    opts.backoff.jitter = 0;
    test_session s(src, std::move(opts));
    std::vector<result> rs(20);
    for (auto& r : rs)
        wait_token(s, r);
    REQUIRE(run_until(ctx, [&] { return all_done(rs); }));
    for (auto& r : rs) {
        CHECK(r.ec == errc::invalid_client);
        CHECK(r.diag.error == "invalid_client");
        CHECK(r.diag.http_status == 401);
        CHECK(r.diag.error_description == "scripted");
    }
    CHECK(src.fetches() == 1); // permanent: no retry
    // Within the backoff window: the same error at once, no request.
    result again;
    wait_token(s, again);
    REQUIRE(run_until(ctx, [&] { return again.done; }));
    CHECK(again.ec == errc::invalid_client);
    CHECK(again.diag.error == "invalid_client");
    CHECK(src.fetches() == 1);
    // After it: a new attempt (the script is empty now: success).
    std::this_thread::sleep_for(320ms);
    result later;
    wait_token(s, later);
    REQUIRE(run_until(ctx, [&] { return later.done; }));
    CHECK(!later.ec);
    CHECK(later.diag.empty());
    CHECK(src.fetches() == 2);
}

TEST_CASE("session: transient failures are retried with growing backoff", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->script.push_back(oidc_test::fail_with(errc::server_error, 500));
    src.st()->script.push_back(oidc_test::fail_with(errc::temporarily_unavailable, 503));
    auto opts = quiet();
    opts.backoff.initial = 20ms;
    opts.backoff.jitter = 0;
    opts.backoff.max_attempts = 3;
    std::vector<std::chrono::milliseconds> delays;
    opts.on_event = [&](const oidc::session_event& e) {
        if (e.kind == oidc::session_event_kind::retry_scheduled)
            delays.push_back(e.delay);
    };
    test_session s(src, std::move(opts));
    std::vector<result> rs(10);
    auto t0 = std::chrono::steady_clock::now();
    for (auto& r : rs)
        wait_token(s, r);
    REQUIRE(run_until(ctx, [&] { return all_done(rs); }));
    auto took = std::chrono::steady_clock::now() - t0;
    for (auto& r : rs) {
        CHECK(!r.ec);
        CHECK(r.token == "at-1");
    }
    CHECK(src.fetches() == 3);
    CHECK(delays == std::vector<std::chrono::milliseconds>{20ms, 40ms});
    CHECK(took >= 60ms);

    SECTION("exhausted attempts reach every waiter") {
        s.invalidate(s.cached_token());
        for (int i = 0; i < 3; ++i)
            src.st()->script.push_back(oidc_test::fail_with(errc::server_error, 500));
        std::vector<result> more(5);
        for (auto& r : more)
            wait_token(s, r);
        REQUIRE(run_until(ctx, [&] { return all_done(more); }));
        for (auto& r : more) {
            CHECK(r.ec == errc::server_error);
            CHECK(r.diag.http_status == 500);
        }
        CHECK(src.fetches() == 6);
    }
}

TEST_CASE("session: rotated refresh tokens are kept across many refreshes", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    test_session s(src, quiet());
    result r0;
    wait_token(s, r0);
    REQUIRE(run_until(ctx, [&] { return r0.done; }));
    for (int i = 0; i < 20; ++i) {
        REQUIRE(s.invalidate(s.cached_token()));
        result r;
        wait_token(s, r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        CHECK(r.token == "at-" + std::to_string(i + 2));
    }
    auto& used = src.st()->refresh_tokens_used;
    REQUIRE(used.size() == 20);
    for (int i = 0; i < 20; ++i)
        CHECK(used[i] == "rt-" + std::to_string(i + 1)); // always the newest one
    CHECK(s.cached_token().tokens().refresh_token == "rt-21");

    SECTION("a refresh answer without a refresh token keeps the old one") {
        src.st()->rotate = false;
        for (int i = 0; i < 3; ++i) {
            REQUIRE(s.invalidate(s.cached_token()));
            result r;
            wait_token(s, r);
            REQUIRE(run_until(ctx, [&] { return r.done; }));
        }
        CHECK(used.back() == "rt-21");
        CHECK(s.cached_token().tokens().refresh_token == "rt-21");
    }
}

TEST_CASE("session: fallback to the original grant", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    std::vector<oidc::session_event_kind> kinds;
    auto opts = quiet();
    opts.on_event = [&](const oidc::session_event& e) {
        kinds.push_back(e.kind);
    };

    SECTION("refresh token rejected with invalid_grant") {
        opts.initial = make_tokens("at-0", "rt-0", -1000ms);
        src.st()->script.push_back(oidc_test::fail_with(errc::invalid_grant, 400));
        test_session s(src, std::move(opts));
        std::vector<result> rs(3);
        for (auto& r : rs)
            wait_token(s, r);
        REQUIRE(run_until(ctx, [&] { return all_done(rs); }));
        for (auto& r : rs)
            CHECK(!r.ec);
        CHECK(src.st()->kinds == std::vector<fetch_kind>{fetch_kind::refresh, fetch_kind::grant});
        CHECK(std::count(kinds.begin(), kinds.end(), oidc::session_event_kind::fallback) == 1);
        CHECK(kinds.back() == oidc::session_event_kind::acquired);
    }
    SECTION("refresh token expired: no refresh attempt at all") {
        opts.initial = make_tokens("at-0", "rt-0", -1000ms, -500ms);
        test_session s(src, std::move(opts));
        result r;
        wait_token(s, r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        CHECK(!r.ec);
        CHECK(src.st()->kinds == std::vector<fetch_kind>{fetch_kind::grant});
    }
    SECTION("a grant that needs a person reports reauthentication_required") {
        src.st()->needs_user = true;
        opts.initial = make_tokens("at-0", "rt-0", -1000ms);
        src.st()->script.push_back(oidc_test::fail_with(errc::invalid_grant, 400));
        test_session s(src, std::move(opts));
        std::vector<result> rs(3);
        for (auto& r : rs)
            wait_token(s, r);
        REQUIRE(run_until(ctx, [&] { return all_done(rs); }));
        for (auto& r : rs)
            CHECK(r.ec == errc::reauthentication_required);
        CHECK(src.fetches() == 1); // the refresh, never a replay of the code
        result again;
        wait_token(s, again);
        REQUIRE(run_until(ctx, [&] { return again.done; }));
        CHECK(again.ec == errc::reauthentication_required);
        CHECK(src.fetches() == 1);
    }
    SECTION("needs a person and no refresh token: no request") {
        src.st()->needs_user = true;
        test_session s(src, std::move(opts));
        result r;
        wait_token(s, r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        CHECK(r.ec == errc::reauthentication_required);
        CHECK(src.fetches() == 0);
    }
}

TEST_CASE("session: proactive refresh keeps callers served without waiting", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->ttl = 400ms;
    src.st()->delay = 30ms;
    auto opts = quiet();
    opts.proactive_refresh = true;
    opts.proactive_at = 0.5;
    opts.proactive_jitter = 0.1;
    opts.margin = 50ms;
    test_session s(src, std::move(opts));
    result r0;
    wait_token(s, r0);
    REQUIRE(run_until(ctx, [&] { return r0.done; }));
    // For the next 700 ms the cache is never empty while background refreshes happen.
    auto end = std::chrono::steady_clock::now() + 700ms;
    int misses = 0;
    while (std::chrono::steady_clock::now() < end) {
        ctx.restart();
        ctx.run_for(5ms);
        if (!s.cached_token())
            ++misses;
    }
    CHECK(misses == 0);
    CHECK(src.fetches() >= 3);
    CHECK(src.st()->kinds[1] == fetch_kind::refresh);
}

TEST_CASE("session: invalidate drops only the token still served", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    test_session s(src, quiet());
    result a;
    wait_token(s, a);
    REQUIRE(run_until(ctx, [&] { return a.done; }));
    auto old = s.cached_token();
    REQUIRE(s.invalidate(old));
    CHECK_FALSE(s.cached_token());
    result b;
    wait_token(s, b);
    REQUIRE(run_until(ctx, [&] { return b.done; }));
    CHECK(b.token == "at-2");
    CHECK_FALSE(s.invalidate(old)); // a newer one replaced it
    CHECK(s.cached_token().value() == "at-2");
    CHECK(src.fetches() == 2);
}

TEST_CASE("session: use_awaitable throws on error; as_tuple does not", "[session]") {
    asio::io_context ctx;
    scripted_source src(ctx.get_executor());
    src.st()->script.push_back(oidc_test::fail_with(errc::invalid_client, 401));
    auto opts = quiet();
    opts.fail_fast_during_backoff = true;
    opts.backoff.initial = 10s;
    test_session s(src, std::move(opts));
    bool threw = false, tupled = false;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            try {
                co_await s.token();
            } catch (const std::system_error& e) {
                threw = e.code() == errc::invalid_client;
            }
            auto [ec, t] = co_await s.token(oidc::net::use_nothrow_awaitable);
            tupled = ec == errc::invalid_client && !t;
        },
        asio::detached);
    REQUIRE(run_until(ctx, [&] { return tupled; }));
    CHECK(threw);
}
