// Loops of session::token() on a fresh token, counting allocations (alloc_counter.hpp) and
// time over the measured calls: used by the session allocation test and bench_session.
#pragma once

#include "alloc_counter.hpp"

#include <oidc/session.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>

namespace oidc_test {

struct token_loop_result {
    bool ok = false;        // every call gave `expect` (or any token when `expect` is empty)
    long allocs = -1;       // allocations over the n measured calls
    double ns_per_call = 0; // wall time per measured call
};

namespace detail {
using loop_clock = std::chrono::steady_clock;

inline void loop_start(loop_clock::time_point& t0) {
    alloc_count = 0;
    alloc_counting = true;
    t0 = loop_clock::now();
}

inline void loop_stop(token_loop_result& r, loop_clock::time_point t0, int n) {
    auto t1 = loop_clock::now();
    alloc_counting = false;
    r.allocs = alloc_count.load();
    r.ns_per_call = std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
}
} // namespace detail

/// `warmup` + `n` calls of s.token(handler), each made from the previous call's handler inside
/// ctx.run(); the last n are measured.
template <class Session>
token_loop_result token_callback_loop(asio::io_context& ctx, Session& s, int warmup, int n,
                                      std::string_view expect = {}) {
    struct state {
        Session* s;
        int left;
        int n;
        std::string expect;
        detail::loop_clock::time_point t0;
        token_loop_result r;
    } st{&s, warmup + n, n, std::string(expect), {}, {}};
    struct chain {
        state* st;
        void operator()(std::error_code ec, oidc::token_ref t) const {
            if (ec || t.value().empty() || (!st->expect.empty() && t.value() != st->expect)) {
                alloc_counting = false;
                st->left = -1;
                return;
            }
            if (st->left == st->n)
                detail::loop_start(st->t0);
            if (--st->left < 0) {
                detail::loop_stop(st->r, st->t0, st->n);
                st->r.ok = true;
                return;
            }
            st->s->token(*this);
        }
    };
    asio::post(ctx, [&] { s.token(chain{&st}); });
    ctx.restart();
    ctx.run();
    alloc_counting = false;
    return st.r;
}

/// The same with `co_await s.token()` in one coroutine.
template <class Session>
token_loop_result token_awaitable_loop(asio::io_context& ctx, Session& s, int warmup, int n,
                                       std::string_view expect = {}) {
    token_loop_result r;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < warmup; ++i)
                co_await s.token();
            detail::loop_clock::time_point t0;
            detail::loop_start(t0);
            bool ok = true;
            for (int i = 0; i < n; ++i) {
                auto t = co_await s.token();
                if (t.value().empty() || (!expect.empty() && t.value() != expect))
                    ok = false;
            }
            detail::loop_stop(r, t0, n);
            r.ok = ok;
        },
        asio::detached);
    ctx.restart();
    ctx.run();
    alloc_counting = false;
    return r;
}

/// n synchronous s.cached_token() reads.
template <class Session>
token_loop_result cached_token_loop(Session& s, int n, std::string_view expect = {}) {
    token_loop_result r;
    detail::loop_clock::time_point t0;
    bool ok = true;
    detail::loop_start(t0);
    for (int i = 0; i < n; ++i) {
        auto t = s.cached_token();
        if (!t || t.value().empty() || (!expect.empty() && t.value() != expect))
            ok = false;
    }
    detail::loop_stop(r, t0, n);
    r.ok = ok;
    return r;
}

} // namespace oidc_test
