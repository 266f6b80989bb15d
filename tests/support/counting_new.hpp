// A counting replacement of the global allocation functions, for the allocation tests and
// the session benchmark. Counting happens only on a thread that set
// `oidc_test::alloc_counting` (or holds a `counting_scope`, see alloc_counter.hpp), so other
// code is not affected.
//
// Include it in exactly ONE translation unit of a program: replacement allocation functions
// cannot be inline. ThreadSanitizer's runtime defines these functions itself: there
// OIDC_TEST_COUNT_ALLOCATIONS is 0, nothing is replaced and the counter stays at zero (test
// code that relies on the count should check the macro).
#pragma once

#include "alloc_counter.hpp"

#include <cstddef>
#include <cstdlib>
#include <new>

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
