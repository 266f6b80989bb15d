// asio-oidc: the one place for compiler and dependency version differences.
#pragma once

// Asio 1.22 detects C++20 coroutines only with libc++; clang with libstdc++ needs them
// spelled out before any Asio header is seen.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && __has_include(<coroutine>)
#ifndef ASIO_HAS_CO_AWAIT
#define ASIO_HAS_CO_AWAIT 1
#endif
#ifndef ASIO_HAS_STD_COROUTINE
#define ASIO_HAS_STD_COROUTINE 1
#endif
#endif

#include <asio/version.hpp>

#define OIDC_VERSION_MAJOR 0
#define OIDC_VERSION_MINOR 1
#define OIDC_VERSION_PATCH 0

#if ASIO_VERSION < 102201
#error "asio-oidc needs standalone Asio 1.22.1 or newer"
#endif

// as_tuple and deferred left asio::experimental in later Asio releases.
#if __has_include(<asio/as_tuple.hpp>)
#include <asio/as_tuple.hpp>
#define OIDC_ASIO_AS_TUPLE_NS ::asio
#else
#include <asio/experimental/as_tuple.hpp>
#define OIDC_ASIO_AS_TUPLE_NS ::asio::experimental
#endif

#if __has_include(<asio/deferred.hpp>)
#include <asio/deferred.hpp>
#define OIDC_ASIO_DEFERRED_NS ::asio
#else
#include <asio/experimental/deferred.hpp>
#define OIDC_ASIO_DEFERRED_NS ::asio::experimental
#endif

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

namespace oidc::net {
using OIDC_ASIO_AS_TUPLE_NS::as_tuple;
using OIDC_ASIO_AS_TUPLE_NS::as_tuple_t;
using OIDC_ASIO_DEFERRED_NS::deferred;
/// The completion token that turns a `void(error_code, T)` into `std::tuple<error_code, T>`
/// inside a coroutine, without exceptions.
inline constexpr auto use_nothrow_awaitable = as_tuple(::asio::use_awaitable);
} // namespace oidc::net

// Library coroutines are declared `OIDC_CORO inline asio::awaitable<...> f(...)`: a function
// template with one defaulted parameter. g++ 12 generates the body (actor and destroy clones,
// with internal linkage) of every inline non-template coroutine in every translation unit that
// sees its definition, used or not, with everything it instantiates; a template's body is only
// generated where it is called. Including <oidc/oidc.hpp> costs about a third of the compile
// time and none of the object code this way.
#define OIDC_CORO template <class = void>

#if defined(__GNUC__) || defined(__clang__)
#define OIDC_LIKELY(x) __builtin_expect(!!(x), 1)
#define OIDC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define OIDC_LIKELY(x) (x)
#define OIDC_UNLIKELY(x) (x)
#endif
