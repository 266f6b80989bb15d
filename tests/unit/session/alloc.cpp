// token() on a fresh token allocates nothing (a counting global operator new). The
// counter only counts on the thread that enabled it, so other tests are not affected.
#include "scripted_source.hpp"

#include "catch.hpp"
#include "counting_new.hpp" // the counting global operator new (this program's only one)
#include "token_loop.hpp"

#include <asio/io_context.hpp>

// Under ThreadSanitizer nothing is replaced (see counting_new.hpp): no test then.
#if OIDC_TEST_COUNT_ALLOCATIONS
TEST_CASE("session: token() on a fresh token does not allocate", "[session][alloc]") {
    asio::io_context ctx;
    oidc_test::scripted_source src(ctx.get_executor());
    oidc::session_options opts;
    opts.initial = oidc_test::make_tokens("at-0", "rt-0", std::chrono::hours(1));
    oidc_test::test_session s(src, std::move(opts));
    constexpr int warmup = 100, n = 10000;

    SECTION("callback handlers") {
        auto r = oidc_test::token_callback_loop(ctx, s, warmup, n, "at-0");
        CHECK(r.ok);
        CHECK(r.allocs == 0);
        CHECK(src.fetches() == 0);
    }
    SECTION("use_awaitable") {
        auto r = oidc_test::token_awaitable_loop(ctx, s, warmup, n, "at-0");
        CHECK(r.ok);
        CHECK(r.allocs == 0);
    }
    SECTION("cached_token()") {
        auto r = oidc_test::cached_token_loop(s, n, "at-0");
        CHECK(r.ok);
        CHECK(r.allocs == 0);
    }
}

#endif // OIDC_TEST_COUNT_ALLOCATIONS
