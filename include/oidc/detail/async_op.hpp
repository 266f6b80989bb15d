// asio-oidc (private): the plumbing that turns an internal awaitable driver into an
// initiating function taking any completion token, with a per-operation timeout and
// per-operation cancellation. Used by oidc::client and oidc::jwks_cache.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/error.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <new>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace oidc::detail {

/// What an operation driver produces: an error code, a value, and the server's diagnostics.
template <class T>
struct op_result {
    std::error_code ec;
    T value{};
    diagnostics diag;
};

/// The value type of operations that complete with `void(std::error_code)` only.
struct no_value {};

/// A completion token, as opposed to a string argument or a diagnostics object (keeps the
/// overloads with optional string parameters unambiguous).
template <class T>
concept completion_token_arg =
    !std::is_convertible_v<T, std::string_view> && !std::is_same_v<std::decay_t<T>, diagnostics>;

template <class T>
struct is_use_awaitable : std::false_type {};
template <class Executor>
struct is_use_awaitable<asio::use_awaitable_t<Executor>> : std::true_type {};

template <class T>
using op_signature = std::conditional_t<std::is_same_v<T, no_value>, void(std::error_code),
                                        void(std::error_code, T)>;
template <class T>
using op_throwing_signature =
    std::conditional_t<std::is_same_v<T, no_value>, void(std::exception_ptr),
                       void(std::exception_ptr, T)>;

inline std::error_code exception_code(std::exception_ptr ep) noexcept {
    try {
        std::rethrow_exception(ep);
    } catch (const std::system_error& e) {
        return e.code();
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (...) {
        return std::make_error_code(std::errc::state_not_recoverable);
    }
}

/// Adapts co_spawn's `void(exception_ptr, op_result<T>)` to the operation's signature.
/// Throwing = true (asio::use_awaitable): an error becomes an oidc::oauth_error carrying the
/// diagnostics. Otherwise `void(error_code[, T])`, the diagnostics copied to `diag_out`.
template <class T, class Handler, bool Throwing>
struct op_completion {
    Handler handler;
    diagnostics* diag_out = nullptr;

    void operator()(std::exception_ptr ep, op_result<T> r) {
        if (ep)
            r.ec = exception_code(ep);
        if (diag_out)
            *diag_out = r.diag;
        if constexpr (Throwing) {
            std::exception_ptr e;
            if (r.ec)
                e = std::make_exception_ptr(oauth_error(r.ec, std::move(r.diag)));
            if constexpr (std::is_same_v<T, no_value>)
                std::move(handler)(e);
            else
                std::move(handler)(e, std::move(r.value));
        } else {
            if constexpr (std::is_same_v<T, no_value>)
                std::move(handler)(r.ec);
            else
                std::move(handler)(r.ec, std::move(r.value));
        }
    }
};

/// Runs `op` against a timer: whichever finishes first wins and the other is cancelled. The
/// timer winning gives errc::timed_out; a cancelled operation gives operation_aborted.
template <class T>
asio::awaitable<op_result<T>> with_timeout(asio::awaitable<op_result<T>> op,
                                           std::chrono::steady_clock::duration timeout) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    auto r = co_await (std::move(op) || timer.async_wait(net::use_nothrow_awaitable));
    if (r.index() == 0)
        co_return std::move(std::get<0>(r));
    op_result<T> out;
    auto [tec] = std::get<1>(r);
    out.ec =
        tec ? std::error_code(asio::error::operation_aborted) : std::error_code(errc::timed_out);
    co_return out;
}

/// The initiation: spawns the driver on a new strand of `ex`, bounded by `timeout`.
template <class T, bool Throwing>
struct initiate_op_as {
    template <class Handler, class Factory>
    void operator()(Handler&& h, asio::any_io_executor ex, std::chrono::milliseconds timeout,
                    diagnostics* diag, Factory factory) const {
        using handler_t = std::decay_t<Handler>;
        auto strand = asio::make_strand(ex);
        asio::co_spawn(std::move(strand), with_timeout<T>(factory(), timeout),
                       op_completion<T, handler_t, Throwing>{std::forward<Handler>(h), diag});
    }
};

/// Starts an operation: `factory()` returns the driver `awaitable<op_result<T>>`. With
/// asio::use_awaitable, errors throw oidc::oauth_error with the diagnostics (also copied to
/// `diag` when given); every other token gets `void(std::error_code[, T])`.
template <class T, class CompletionToken, class Factory>
auto start_op(asio::any_io_executor ex, std::chrono::milliseconds timeout, diagnostics* diag,
              Factory factory, CompletionToken&& token) {
    if constexpr (is_use_awaitable<std::decay_t<CompletionToken>>::value) {
        return asio::async_initiate<CompletionToken, op_throwing_signature<T>>(
            initiate_op_as<T, true>{}, token, std::move(ex), timeout, diag, std::move(factory));
    } else {
        return asio::async_initiate<CompletionToken, op_signature<T>>(
            initiate_op_as<T, false>{}, token, std::move(ex), timeout, diag, std::move(factory));
    }
}

} // namespace oidc::detail

template <class T, class Handler, bool Throwing, class Executor>
struct asio::associated_executor<oidc::detail::op_completion<T, Handler, Throwing>, Executor> {
    using type = asio::associated_executor_t<Handler, Executor>;
    static type get(const oidc::detail::op_completion<T, Handler, Throwing>& h,
                    const Executor& ex = Executor()) noexcept {
        return asio::get_associated_executor(h.handler, ex);
    }
};

template <class T, class Handler, bool Throwing, class Allocator>
struct asio::associated_allocator<oidc::detail::op_completion<T, Handler, Throwing>, Allocator> {
    using type = asio::associated_allocator_t<Handler, Allocator>;
    static type get(const oidc::detail::op_completion<T, Handler, Throwing>& h,
                    const Allocator& a = Allocator()) noexcept {
        return asio::get_associated_allocator(h.handler, a);
    }
};

template <class T, class Handler, bool Throwing, class Slot>
struct asio::associated_cancellation_slot<oidc::detail::op_completion<T, Handler, Throwing>, Slot> {
    using type = asio::associated_cancellation_slot_t<Handler, Slot>;
    static type get(const oidc::detail::op_completion<T, Handler, Throwing>& h,
                    const Slot& s = Slot()) noexcept {
        return asio::get_associated_cancellation_slot(h.handler, s);
    }
};
