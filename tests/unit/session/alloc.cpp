// token() on a fresh token allocates nothing (a counting global operator new). The
// counter only counts on the thread that enabled it, so other tests are not affected.
#include "scripted_source.hpp"

#include "catch.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

// ThreadSanitizer's runtime defines the global allocation functions itself: the counting
// replacement below (and the test that needs it) only exist in the other builds.
#if defined(__SANITIZE_THREAD__)
#define OIDC_TEST_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OIDC_TEST_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef OIDC_TEST_COUNT_ALLOCATIONS
#define OIDC_TEST_COUNT_ALLOCATIONS 1
#endif

#if OIDC_TEST_COUNT_ALLOCATIONS
namespace {
std::atomic<long> g_allocs{0};
thread_local bool g_counting = false;

struct counting_scope {
    counting_scope() { g_counting = true; }
    ~counting_scope() { g_counting = false; }
};
} // namespace

// The replacements pair malloc with free; GCC's -O3 inlining sees operator new / free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Every non-aligned form is replaced, so that allocation and release always pair (ASan
// checks it); the aligned forms keep the runtime's pair.
namespace {
void* counted_alloc(std::size_t n) noexcept {
    if (g_counting)
        g_allocs.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n ? n : 1);
}
} // namespace

void* operator new(std::size_t n) {
    if (void* p = counted_alloc(n))
        return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = counted_alloc(n))
        return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

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
                    g_counting = false;
                    *allocs = -2;
                    return;
                }
                if (*left == n) {
                    g_allocs = 0;
                    g_counting = true;
                }
                if (--*left < 0) {
                    g_counting = false;
                    *allocs = g_allocs.load();
                    return;
                }
                s->token(*this);
            }
        };
        asio::post(ctx, [&] { s.token(chain{&s, &left, &allocs}); });
        ctx.run();
        g_counting = false;
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
                g_allocs = 0;
                {
                    counting_scope c;
                    for (int i = 0; i < n; ++i) {
                        auto t = co_await s.token();
                        if (t.value().size() != 4)
                            break;
                    }
                }
                allocs = g_allocs.load();
            },
            asio::detached);
        ctx.run();
        CHECK(allocs == 0);
    }
    SECTION("cached_token()") {
        g_allocs = 0;
        {
            counting_scope c;
            for (int i = 0; i < n; ++i)
                REQUIRE(s.cached_token());
        }
        CHECK(g_allocs.load() == 0);
    }
}

#endif // OIDC_TEST_COUNT_ALLOCATIONS
