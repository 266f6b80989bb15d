// token() on a fresh token allocates nothing (a counting global operator new). The
// counter only counts on the thread that enabled it, so other tests are not affected.
#include "scripted_source.hpp"

#include "catch.hpp"
#include "counting_new.hpp" // the counting global operator new (this program's only one)

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

// Under ThreadSanitizer nothing is replaced (see counting_new.hpp): no test then.
#if OIDC_TEST_COUNT_ALLOCATIONS
using oidc_test::alloc_count;
using oidc_test::alloc_counting;
using oidc_test::counting_scope;

TEST_CASE("session: token() on a fresh token does not allocate", "[session][alloc]") {
    asio::io_context ctx;
    oidc_test::scripted_source src(ctx.get_executor());
    oidc::session_options opts;
    opts.initial = oidc_test::make_tokens("at-0", "rt-0", std::chrono::hours(1));
    oidc_test::test_session s(src, std::move(opts));
    constexpr int warmup = 100, n = 10000;

    SECTION("callback handlers") {
        long allocs = -1;
        int left = warmup + n;
        struct chain {
            oidc_test::test_session* s;
            int* left;
            long* allocs;
            void operator()(std::error_code ec, oidc::token_ref t) const {
                if (ec || t.value() != "at-0") {
                    alloc_counting = false;
                    *allocs = -2;
                    return;
                }
                if (*left == n) {
                    alloc_count = 0;
                    alloc_counting = true;
                }
                if (--*left < 0) {
                    alloc_counting = false;
                    *allocs = alloc_count.load();
                    return;
                }
                s->token(*this);
            }
        };
        asio::post(ctx, [&] { s.token(chain{&s, &left, &allocs}); });
        ctx.run();
        alloc_counting = false;
        CHECK(allocs == 0);
        CHECK(src.fetches() == 0);
    }
    SECTION("use_awaitable") {
        long allocs = -1;
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < warmup; ++i)
                    co_await s.token();
                alloc_count = 0;
                {
                    counting_scope c;
                    for (int i = 0; i < n; ++i) {
                        auto t = co_await s.token();
                        if (t.value().size() != 4)
                            break;
                    }
                }
                allocs = alloc_count.load();
            },
            asio::detached);
        ctx.run();
        CHECK(allocs == 0);
    }
    SECTION("cached_token()") {
        alloc_count = 0;
        {
            counting_scope c;
            for (int i = 0; i < n; ++i)
                REQUIRE(s.cached_token());
        }
        CHECK(alloc_count.load() == 0);
    }
}

#endif // OIDC_TEST_COUNT_ALLOCATIONS
