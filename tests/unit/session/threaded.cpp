// oidc::basic_session on a 2-thread io_context (run under TSan by scripts/stages/45-session.sh).
#include "scripted_source.hpp"

#include "catch.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using oidc_test::make_tokens;
using oidc_test::scripted_source;
using oidc_test::test_session;

namespace {

// An io_context run by two threads for the lifetime of the object.
struct two_threads {
    asio::io_context ctx{2};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
        ctx.get_executor()};
    std::vector<std::thread> threads;
    two_threads() {
        for (int i = 0; i < 2; ++i)
            threads.emplace_back([this] { ctx.run(); });
    }
    ~two_threads() { stop(); }
    void stop() {
        work.reset();
        ctx.stop();
        for (auto& t : threads)
            if (t.joinable())
                t.join();
    }
};

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 10000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    return pred();
}

oidc::session_options opts_stale() {
    oidc::session_options o;
    o.margin = 0ms;
    o.margin_fraction = 0;
    o.jitter_seed = 7;
    o.initial = make_tokens("at-0", "rt-0", -1000ms);
    return o;
}

} // namespace

TEST_CASE("session threaded: 1,000 coroutines on 2 threads make one fetch", "[session][threaded]") {
    two_threads io;
    scripted_source src(io.ctx.get_executor());
    src.st()->delay = 30ms;
    auto s = std::make_unique<test_session>(src, opts_stale());
    constexpr int n = 1000;
    std::atomic<int> ok{0}, bad{0};
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            io.ctx,
            [&]() -> asio::awaitable<void> {
                auto [ec, t] = co_await s->token(oidc::net::use_nothrow_awaitable);
                (!ec && t.value() == "at-1" ? ok : bad)++;
            },
            asio::detached);
    REQUIRE(wait_until([&] { return ok + bad == n; }));
    CHECK(ok == n);
    CHECK(src.fetches() == 1);
    // Many rounds of concurrent invalidation and renewal.
    std::atomic<int> rounds{0};
    for (int c = 0; c < 8; ++c)
        asio::co_spawn(
            io.ctx,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 50; ++i) {
                    auto [ec, t] = co_await s->token(oidc::net::use_nothrow_awaitable);
                    if (ec)
                        bad++;
                    if (i % 10 == 0)
                        s->invalidate(t);
                }
                rounds++;
            },
            asio::detached);
    REQUIRE(wait_until([&] { return rounds == 8; }));
    CHECK(bad == 0);
    CHECK(src.fetches() <= 1 + 8 * 5);
    s.reset();
    io.stop();
}

TEST_CASE("session threaded: timed-out waiters abort, the others get the token",
          "[session][threaded]") {
    two_threads io;
    scripted_source src(io.ctx.get_executor());
    src.st()->delay = 150ms;
    auto s = std::make_unique<test_session>(src, opts_stale());
    constexpr int n = 200;
    std::atomic<int> aborted{0}, served{0}, other{0};
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            io.ctx,
            [&, i]() -> asio::awaitable<void> {
                if (i % 2 == 0) {
                    asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
                    auto [order, ec1, tok, ec2] =
                        co_await asio::experimental::make_parallel_group(
                            s->token(oidc::net::deferred), timer.async_wait(oidc::net::deferred))
                            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
                    (void)tok;
                    (void)ec2;
                    if (order[0] == 1 && ec1 == asio::error::operation_aborted)
                        aborted++;
                    else
                        other++;
                } else {
                    auto [ec, t] = co_await s->token(oidc::net::use_nothrow_awaitable);
                    (!ec && t.value() == "at-1" ? served : other)++;
                }
            },
            asio::detached);
    REQUIRE(wait_until([&] { return aborted + served + other == n; }));
    CHECK(aborted == n / 2);
    CHECK(served == n / 2);
    CHECK(other == 0);
    CHECK(src.fetches() == 1);
    s.reset();
    io.stop();
}

TEST_CASE("session threaded: destroying the session aborts every waiter", "[session][threaded]") {
    two_threads io;
    scripted_source src(io.ctx.get_executor());
    src.st()->manual = true;
    auto s = std::make_unique<test_session>(src, opts_stale());
    constexpr int n = 300;
    std::atomic<int> started{0}, aborted{0}, other{0};
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            io.ctx,
            [&]() -> asio::awaitable<void> {
                auto tok = s->token(oidc::net::use_nothrow_awaitable);
                started++;
                auto [ec, t] = co_await std::move(tok);
                (ec == asio::error::operation_aborted ? aborted : other)++;
            },
            asio::detached);
    REQUIRE(wait_until([&] { return started == n; }));
    std::this_thread::sleep_for(20ms);
    s.reset();
    REQUIRE(wait_until([&] { return aborted + other == n; }));
    CHECK(aborted == n);
    src.release();
    io.stop();
}
