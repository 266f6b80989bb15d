// The allocation counter that counting_new.hpp's replacement operator new feeds (include
// counting_new.hpp in one translation unit of the program; this header anywhere).
#pragma once

#include <atomic>

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
