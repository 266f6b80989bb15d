// A counting replacement of the global allocation functions, for the allocation tests and
// the session benchmark. Counting happens only on a thread that set
// `oidc_test::alloc_counting` (or holds a `counting_scope`), so other code is not affected.
//
// Include it in exactly ONE translation unit of a program: replacement allocation functions
// cannot be inline. ThreadSanitizer's runtime defines these functions itself: there
// OIDC_TEST_COUNT_ALLOCATIONS is 0, nothing is replaced and the counter stays at zero (test
// code that relies on the count should check the macro).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

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

namespace oidc_test {

/// Allocations seen while counting (any thread that counts).
inline std::atomic<long> alloc_count{0};
/// Whether this thread's allocations are counted.
inline thread_local bool alloc_counting = false;

/// Counts this thread's allocations for its lifetime.
struct counting_scope {
    counting_scope() noexcept { alloc_counting = true; }
    ~counting_scope() { alloc_counting = false; }
    counting_scope(const counting_scope&) = delete;
    counting_scope& operator=(const counting_scope&) = delete;
};

} // namespace oidc_test

#if OIDC_TEST_COUNT_ALLOCATIONS

// The replacements pair malloc with free; GCC's -O3 inlining sees operator new / free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oidc_test::detail {
inline void* counted_alloc(std::size_t n) noexcept {
    if (alloc_counting)
        alloc_count.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n ? n : 1);
}
} // namespace oidc_test::detail

// Every non-aligned form is replaced, so that allocation and release always pair (ASan
// checks it); the aligned forms keep the runtime's pair.
void* operator new(std::size_t n) {
    if (void* p = oidc_test::detail::counted_alloc(n))
        return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = oidc_test::detail::counted_alloc(n))
        return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return oidc_test::detail::counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return oidc_test::detail::counted_alloc(n);
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

#endif // OIDC_TEST_COUNT_ALLOCATIONS
