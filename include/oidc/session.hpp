// asio-oidc: the coroutine-safe shared token state (single-flight refresh) and call().
#pragma once

#include <oidc/client.hpp>
#include <oidc/detail/config.hpp>
#include <oidc/detail/session_fsm.hpp>
#include <oidc/error.hpp>
#include <oidc/grants.hpp>
#include <oidc/http/client.hpp>
#include <oidc/http/message.hpp>
#include <oidc/token.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/associator.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace oidc {

/// A shared, immutable reference to the token set a session serves. Copying it never
/// allocates. Empty (false) when no token is available.
class token_ref {
public:
    token_ref() noexcept = default;
    explicit token_ref(std::shared_ptr<const token_set> p) noexcept : p_(std::move(p)) {}

    explicit operator bool() const noexcept { return p_ != nullptr; }
    /// The access token ("" when empty).
    std::string_view value() const noexcept {
        return p_ ? std::string_view(p_->access_token) : std::string_view();
    }
    /// The whole token set (precondition: not empty).
    const token_set& tokens() const noexcept { return *p_; }
    std::optional<clock::time_point> expires_at() const noexcept {
        return p_ ? p_->expires_at : std::nullopt;
    }
    /// Same token set object (not merely equal strings).
    friend bool operator==(const token_ref& a, const token_ref& b) noexcept { return a.p_ == b.p_; }
    const std::shared_ptr<const token_set>& get() const noexcept { return p_; }

private:
    std::shared_ptr<const token_set> p_;
};

/// What the observability hook hears. Never carries a token, secret or server text.
enum class session_event_kind {
    acquired,                  ///< the original grant produced a token
    refreshed,                 ///< the refresh_token grant produced a token
    refresh_failed,            ///< a token request failed (see error, http_status, attempt)
    retry_scheduled,           ///< a transient failure: another attempt after `delay`
    fallback,                  ///< the refresh token was rejected or expired: original grant next
    reauthentication_required, ///< the grant needs a person; waiters got the error
    invalidated,               ///< a token was dropped (call() saw a 401 invalid_token)
    proactive_refresh,         ///< a background refresh started ahead of expiry
    closed,                    ///< the session was destroyed; waiters were aborted
};

struct session_event {
    session_event_kind kind{};
    fetch_kind fetch = fetch_kind::grant;
    std::error_code error;
    int http_status = 0;
    std::size_t waiters = 0; ///< callers waiting on this outcome
    int attempt = 0;         ///< attempt number within the current renewal (1 = first)
    std::chrono::milliseconds delay{0};
    std::optional<clock::time_point> expires_at; ///< of the new access token
};

/// Options of a session.
struct session_options {
    /// A token is served while `now < expires_at - margin`, where margin =
    /// `margin + margin_fraction * lifetime`, at most half the lifetime.
    std::chrono::milliseconds margin{5000};
    double margin_fraction = 0.05;
    /// Background refresh ahead of expiry: at `proactive_at` of the lifetime minus up to
    /// `proactive_jitter` of it (random), never later than the stale instant. Callers keep
    /// being served the still-valid token meanwhile.
    bool proactive_refresh = false;
    double proactive_at = 0.75;
    double proactive_jitter = 0.05;
    backoff_options backoff;
    /// After a renewal failed, callers get the same error at once (no token request) until
    /// the backoff delay has passed, instead of hammering a provider that is down.
    bool fail_fast_during_backoff = true;
    /// Tokens already obtained (authorization code login, device flow): served first and
    /// renewed with their refresh token.
    std::optional<token_set> initial;
    /// Observability hook; runs on the session's strand, must not block.
    std::function<void(const session_event&)> on_event;
    /// Seed of the jitter generator (0: from std::random_device).
    std::uint64_t jitter_seed = 0;
};

/// Per-call options of session::call().
struct call_options {
    /// Bound of the whole call (token wait, request, the one replay); completes with
    /// errc::timed_out. Zero: none beyond the HTTP client's own timeouts.
    std::chrono::milliseconds timeout{0};
    /// Timeouts and limits of the HTTP requests; default: the HTTP client's.
    std::optional<http::send_options> send;
};

namespace detail {

/// One caller waiting for the outcome of a renewal (type-erased handler).
class session_waiter {
public:
    explicit session_waiter(std::uint64_t id) noexcept : id_(id) {}
    session_waiter(const session_waiter&) = delete;
    session_waiter& operator=(const session_waiter&) = delete;
    virtual ~session_waiter() = default;
    /// Posts the completion to the handler's executor (never inline).
    virtual void complete(std::error_code ec, token_ref t, const diagnostics* d) = 0;
    std::uint64_t id() const noexcept { return id_; }

private:
    std::uint64_t id_;
};

/// Strand-side operations the cancellation handlers need (non-template base).
class session_core {
public:
    virtual ~session_core() = default;
    virtual void cancel_waiter(std::uint64_t id) = 0;
};

/// Installed in a waiter's cancellation slot: aborts that one wait, nothing else. Holds a
/// weak reference so that it may outlive the session.
struct waiter_cancel_handler {
    std::weak_ptr<session_core> core;
    std::uint64_t id;
    void operator()(asio::cancellation_type_t) const {
        if (auto c = core.lock())
            c->cancel_waiter(id);
    }
};

template <class Handler, class DefaultExecutor>
class session_waiter_impl final : public session_waiter {
public:
    using executor_type = asio::associated_executor_t<Handler, DefaultExecutor>;

    session_waiter_impl(Handler h, diagnostics* d, const DefaultExecutor& def, std::uint64_t id)
        : session_waiter(id), handler_(std::move(h)), diag_(d),
          work_(asio::get_associated_executor(handler_, def)),
          slot_(asio::get_associated_cancellation_slot(handler_)) {}

    void arm(std::weak_ptr<session_core> core) {
        if (slot_.is_connected())
            slot_.template emplace<waiter_cancel_handler>(std::move(core), id());
    }

    void complete(std::error_code ec, token_ref t, const diagnostics* d) override {
        auto ex = work_.get_executor();
        std::optional<diagnostics> dcopy;
        if (d && diag_)
            dcopy = *d;
        asio::post(ex, [h = std::move(handler_), slot = slot_, out = diag_, ec, t = std::move(t),
                        dcopy = std::move(dcopy)]() mutable {
            // The slot belongs to the caller's context: clear it there.
            if (slot.is_connected())
                slot.clear();
            if (out) {
                if (dcopy)
                    *out = std::move(*dcopy);
                else
                    out->clear();
            }
            std::move(h)(ec, std::move(t));
        });
        work_.reset();
    }

private:
    Handler handler_;
    diagnostics* diag_;
    asio::executor_work_guard<executor_type> work_;
    asio::cancellation_slot slot_;
};

/// The shared state of a session. Owned by the session object and by operations in
/// flight; handlers of the token source and timers hold only weak references.
template <class Source>
class session_impl final : public session_core,
                           public std::enable_shared_from_this<session_impl<Source>> {
public:
    using strand_type = asio::strand<asio::any_io_executor>;

    session_impl(Source src, session_options opts)
        : source_(std::move(src)), opts_(std::move(opts)),
          strand_(asio::make_strand(asio::any_io_executor(source_.get_executor()))),
          retry_timer_(strand_), proactive_timer_(strand_),
          rng_(opts_.jitter_seed ? opts_.jitter_seed : std::random_device{}()) {
        if (opts_.initial && !opts_.initial->access_token.empty()) {
            current_ = std::make_shared<const token_set>(*opts_.initial);
            publish(current_);
        }
        opts_.initial.reset(); // keep no second copy of the refresh token
    }

    /// Must be called once after construction (needs shared_from_this).
    void start() {
        if (current_ && opts_.proactive_refresh)
            asio::dispatch(strand_,
                           [self = this->shared_from_this()] { self->schedule_proactive(); });
    }

    asio::any_io_executor executor() const noexcept { return strand_.get_inner_executor(); }
    const strand_type& strand() const noexcept { return strand_; }
    Source& source() noexcept { return source_; }
    std::uint64_t next_waiter_id() noexcept { return next_id_.fetch_add(1) + 1; }
    bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

    /// The served token if it is fresh, else empty. Any thread; no allocation.
    token_ref fresh() const noexcept {
        std::lock_guard<std::mutex> lock(mu_);
        if (snap_ && (!snap_stale_ || clock::now() < *snap_stale_))
            return token_ref(snap_);
        return token_ref();
    }

    /// Drops `t` if it is still the served token (not if a newer one replaced it).
    bool invalidate(const token_ref& t) {
        bool dropped = false;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (t && snap_ == t.get()) {
                snap_.reset();
                dropped = true;
            }
        }
        if (dropped)
            asio::post(strand_, [self = this->shared_from_this()] {
                session_event e;
                e.kind = session_event_kind::invalidated;
                self->emit(e);
            });
        return dropped;
    }

    // ---- strand side ----

    void on_request(std::unique_ptr<session_waiter> w) {
        if (closed()) {
            w->complete(asio::error::operation_aborted, {}, nullptr);
            return;
        }
        if (auto t = fresh()) {
            w->complete({}, std::move(t), nullptr);
            return;
        }
        if (!cycle_active() && opts_.fail_fast_during_backoff && last_error_ &&
            std::chrono::steady_clock::now() < not_before_) {
            w->complete(last_error_, {}, &last_diag_);
            return;
        }
        waiters_.push_back(std::move(w));
        if (!cycle_active()) {
            attempt_ = 0;
            start_fetch();
        }
    }

    void cancel_waiter(std::uint64_t id) override {
        asio::post(strand_, [self = this->shared_from_this(), id] {
            auto& v = self->waiters_;
            for (auto it = v.begin(); it != v.end(); ++it) {
                if ((*it)->id() == id) {
                    auto w = std::move(*it);
                    v.erase(it);
                    w->complete(asio::error::operation_aborted, {}, nullptr);
                    return;
                }
            }
        });
    }

    void shutdown() {
        if (closed_.exchange(true))
            return;
        {
            std::lock_guard<std::mutex> lock(mu_);
            snap_.reset();
        }
        retry_timer_.cancel();
        proactive_timer_.cancel();
        if (fetch_signal_)
            fetch_signal_->emit(asio::cancellation_type::terminal);
        fetch_signal_.reset();
        session_event e;
        e.kind = session_event_kind::closed;
        e.waiters = waiters_.size();
        emit(e);
        complete_all(asio::error::operation_aborted, {}, nullptr);
        current_.reset();
    }

    // For tests and metrics (strand only).
    std::size_t waiter_count() const noexcept { return waiters_.size(); }

private:
    struct fetch_done {
        std::weak_ptr<session_impl> self;
        std::uint64_t seq;
        std::shared_ptr<asio::cancellation_signal> signal; // outlives the source's use of it
        void operator()(std::error_code ec, token_set t, diagnostics d) {
            if (auto s = self.lock())
                s->on_fetched(seq, ec, std::move(t), std::move(d));
        }
    };

    bool cycle_active() const noexcept { return in_flight_ || retry_pending_; }

    double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

    void emit(const session_event& e) {
        if (opts_.on_event) {
            try {
                opts_.on_event(e);
            } catch (...) {
                // an observer's failure never breaks the session
            }
        }
    }

    void publish(const std::shared_ptr<const token_set>& p) {
        std::optional<clock::time_point> stale;
        if (p)
            stale = stale_at(*p, opts_.margin, opts_.margin_fraction);
        std::lock_guard<std::mutex> lock(mu_);
        snap_ = p;
        snap_stale_ = stale;
    }

    void complete_all(std::error_code ec, const token_ref& t, const diagnostics* d) {
        auto v = std::move(waiters_);
        waiters_.clear();
        for (auto& w : v)
            w->complete(ec, t, d);
    }

    void start_fetch() {
        if (closed())
            return;
        const auto step =
            decide_fetch(current_.get(), clock::now(), source_.needs_user(), refresh_rejected_);
        if (step == next_step::reauthenticate) {
            session_event e;
            e.kind = session_event_kind::reauthentication_required;
            e.error = make_error_code(errc::reauthentication_required);
            e.waiters = waiters_.size();
            emit(e);
            attempt_ = 0;
            complete_all(e.error, {}, nullptr);
            return;
        }
        kind_ = step == next_step::fetch_refresh ? fetch_kind::refresh : fetch_kind::grant;
        in_flight_ = true;
        ++attempt_;
        const auto seq = ++fetch_seq_;
        fetch_signal_ = std::make_shared<asio::cancellation_signal>();
        auto slot = fetch_signal_->slot();
        static const token_set none{};
        source_.async_fetch(
            kind_, current_ ? *current_ : none,
            asio::bind_cancellation_slot(
                slot, asio::bind_executor(strand_,
                                          fetch_done{this->weak_from_this(), seq, fetch_signal_})));
    }

    void on_fetched(std::uint64_t seq, std::error_code ec, token_set t, diagnostics d) {
        if (closed() || seq != fetch_seq_ || !in_flight_)
            return;
        in_flight_ = false;
        fetch_signal_.reset();
        if (!ec) {
            if (kind_ == fetch_kind::refresh && t.refresh_token.empty() && current_) {
                // No rotation: the old refresh token stays valid (RFC 6749 6).
                t.refresh_token = current_->refresh_token;
                t.refresh_expires_at = current_->refresh_expires_at;
            }
            if (t.received_at == clock::time_point{})
                t.received_at = clock::now();
            auto p = std::make_shared<const token_set>(std::move(t));
            current_ = p; // access and rotated refresh token replaced together
            refresh_rejected_ = false;
            failures_ = 0;
            last_error_ = {};
            last_diag_.clear();
            publish(p);
            session_event e;
            e.kind = kind_ == fetch_kind::refresh ? session_event_kind::refreshed
                                                  : session_event_kind::acquired;
            e.fetch = kind_;
            e.attempt = attempt_;
            e.waiters = waiters_.size();
            e.expires_at = p->expires_at;
            attempt_ = 0;
            emit(e);
            complete_all({}, token_ref(p), nullptr);
            schedule_proactive();
            return;
        }
        session_event e;
        e.kind = session_event_kind::refresh_failed;
        e.fetch = kind_;
        e.error = ec;
        e.http_status = d.http_status;
        e.attempt = attempt_;
        e.waiters = waiters_.size();
        emit(e);
        switch (classify_failure(ec, kind_, d.http_status)) {
        case failure_class::refresh_rejected: {
            refresh_rejected_ = true;
            session_event f;
            f.kind = session_event_kind::fallback;
            f.waiters = waiters_.size();
            emit(f);
            attempt_ = 0;
            start_fetch(); // the original grant, or reauthentication_required
            return;
        }
        case failure_class::transient:
            if (attempt_ < opts_.backoff.max_attempts) {
                auto delay = backoff_delay(attempt_, opts_.backoff, uniform());
                session_event r;
                r.kind = session_event_kind::retry_scheduled;
                r.fetch = kind_;
                r.attempt = attempt_;
                r.delay = delay;
                r.waiters = waiters_.size();
                emit(r);
                retry_pending_ = true;
                retry_timer_.expires_after(delay);
                retry_timer_.async_wait(
                    asio::bind_executor(strand_, [w = this->weak_from_this()](std::error_code tec) {
                        auto s = w.lock();
                        if (!s || s->closed() || !s->retry_pending_)
                            return;
                        (void)tec; // cancelled only on shutdown, handled above
                        s->retry_pending_ = false;
                        s->start_fetch();
                    }));
                return;
            }
            break;
        case failure_class::permanent:
        case failure_class::aborted:
            break;
        }
        attempt_ = 0;
        ++failures_;
        last_error_ = ec;
        last_diag_ = d;
        not_before_ =
            std::chrono::steady_clock::now() + backoff_delay(failures_, opts_.backoff, uniform());
        complete_all(ec, {}, &last_diag_);
    }

    void schedule_proactive() {
        if (!opts_.proactive_refresh || !current_ || closed())
            return;
        auto when = proactive_at(*current_, opts_.margin, opts_.margin_fraction, opts_.proactive_at,
                                 opts_.proactive_jitter, uniform());
        if (!when)
            return;
        auto target = current_;
        proactive_timer_.expires_after(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(*when - clock::now()));
        proactive_timer_.async_wait(
            asio::bind_executor(strand_, [w = this->weak_from_this(), target](std::error_code ec) {
                auto s = w.lock();
                if (ec || !s || s->closed() || s->cycle_active() || s->current_ != target)
                    return;
                session_event e;
                e.kind = session_event_kind::proactive_refresh;
                s->emit(e);
                s->attempt_ = 0;
                s->start_fetch();
            }));
    }

    Source source_;
    session_options opts_;
    strand_type strand_;

    // Published token: written on the strand, read from any thread.
    mutable std::mutex mu_;
    std::shared_ptr<const token_set> snap_;
    std::optional<clock::time_point> snap_stale_;

    std::atomic<bool> closed_{false};
    std::atomic<std::uint64_t> next_id_{0};

    // Strand state.
    std::shared_ptr<const token_set> current_; ///< last obtained (with its refresh token)
    bool refresh_rejected_ = false;
    bool in_flight_ = false;
    bool retry_pending_ = false;
    fetch_kind kind_ = fetch_kind::grant;
    int attempt_ = 0;
    int failures_ = 0; ///< consecutive failed renewals
    std::uint64_t fetch_seq_ = 0;
    std::error_code last_error_;
    diagnostics last_diag_;
    std::chrono::steady_clock::time_point not_before_{};
    std::shared_ptr<asio::cancellation_signal> fetch_signal_;
    std::vector<std::unique_ptr<session_waiter>> waiters_;
    asio::steady_timer retry_timer_;
    asio::steady_timer proactive_timer_;
    std::mt19937_64 rng_;
};

struct initiate_session_token {
    template <class Handler, class Impl>
    void operator()(Handler&& handler, std::shared_ptr<Impl> im, diagnostics* diag) const {
        using handler_type = std::decay_t<Handler>;
        if (!im->closed()) {
            if (token_ref t = im->fresh()) {
                // Fast path: no strand hop, no allocation beyond Asio's recycled operation.
                auto ex = asio::get_associated_executor(handler, im->executor());
                asio::post(ex, [h = handler_type(std::forward<Handler>(handler)), t = std::move(t),
                                diag]() mutable {
                    if (diag)
                        diag->clear();
                    std::move(h)(std::error_code(), std::move(t));
                });
                return;
            }
        }
        using waiter_type = session_waiter_impl<handler_type, asio::any_io_executor>;
        auto w = std::make_unique<waiter_type>(handler_type(std::forward<Handler>(handler)), diag,
                                               im->executor(), im->next_waiter_id());
        w->arm(std::weak_ptr<session_core>(im));
        auto& strand = im->strand();
        asio::dispatch(strand, [im = std::move(im), w = std::move(w)]() mutable {
            im->on_request(std::move(w));
        });
    }
};

template <class Impl, class CompletionToken>
auto async_session_token(const std::shared_ptr<Impl>& im, CompletionToken&& tok) {
    return asio::async_initiate<CompletionToken, void(std::error_code, token_ref)>(
        initiate_session_token{}, tok, im, static_cast<diagnostics*>(nullptr));
}

using call_result = std::pair<std::error_code, http::response>;

// The client that binds a source's tokens to a DPoP key, if any (client_token_source
// with client_options::dpop).
template <class Source>
const client* dpop_client_of(Source& s) noexcept {
    if constexpr (requires {
                      { s.get_client() } -> std::convertible_to<const client&>;
                  }) {
        const client& c = s.get_client();
        return c.uses_dpop() ? &c : nullptr;
    } else {
        return nullptr;
    }
}

// (The HTTP client's type is a template parameter so that async_send is only instantiated
// where a call is made: see OIDC_CORO.)
template <class Impl, class HttpClient>
asio::awaitable<call_result> call_attempts(std::shared_ptr<Impl> im, HttpClient h,
                                           http::request req,
                                           std::optional<http::send_options> so) {
    const client* dc = dpop_client_of(im->source());
    bool nonce_retried = false;
    for (int attempt = 0;;) {
        auto [ec, tok] = co_await async_session_token(im, net::use_nothrow_awaitable);
        if (ec)
            co_return call_result{ec, http::response{}};
        // A DPoP token goes with a proof of the key (RFC 9449 7.1), any other as Bearer.
        const bool dpop = dc && http::iequals(tok.tokens().token_type, "DPoP");
        // Each attempt but a last one sends a copy: the request is replayed once on
        // invalid_token, and once with a DPoP server's nonce.
        const bool last = attempt > 0 && (!dc || nonce_retried);
        http::request r = last ? std::move(req) : req;
        std::string auth;
        auth.reserve(7 + tok.value().size());
        auth.append(dpop ? "DPoP " : "Bearer ").append(tok.value());
        r.headers.set("Authorization", auth);
        const std::string url = dpop ? r.target : std::string();
        if (dpop)
            if (auto pec = dc->dpop_proof(http::to_string(r.method), url, tok.value(), r.headers))
                co_return call_result{pec, http::response{}};
        // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
        std::tuple<std::error_code, http::response> sent;
        if (so)
            sent = co_await h.async_send(std::move(r), *so, net::use_nothrow_awaitable);
        else
            sent = co_await h.async_send(std::move(r), net::use_nothrow_awaitable);
        auto& [sec, resp] = sent;
        if (sec)
            co_return call_result{sec, http::response{}};
        if (dpop && dc->dpop_nonce_retry(url, resp) && !nonce_retried) {
            nonce_retried = true; // the same token, with the server's nonce (RFC 9449 9)
            continue;
        }
        if (attempt == 0 && is_invalid_token_response(resp, dpop)) {
            im->invalidate(tok); // only if no newer token replaced it meanwhile
            ++attempt;
            continue;
        }
        co_return call_result{std::error_code(), std::move(resp)};
    }
}

template <class Impl, class HttpClient>
asio::awaitable<call_result> call_op(std::shared_ptr<Impl> im, HttpClient h, http::request req,
                                     call_options o) {
    try {
        if (o.timeout.count() <= 0)
            co_return co_await call_attempts(std::move(im), std::move(h), std::move(req),
                                             std::move(o.send));
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer timer(co_await asio::this_coro::executor, o.timeout);
        auto v = co_await (
            call_attempts(std::move(im), std::move(h), std::move(req), std::move(o.send)) ||
            timer.async_wait(asio::use_awaitable));
        if (v.index() == 1)
            co_return call_result{make_error_code(errc::timed_out), http::response{}};
        co_return std::get<0>(std::move(v));
    } catch (const std::system_error& e) {
        co_return call_result{e.code(), http::response{}};
    } catch (const std::bad_alloc&) {
        co_return call_result{std::make_error_code(std::errc::not_enough_memory), http::response{}};
    }
}

struct initiate_call {
    template <class Handler, class Impl>
    void operator()(Handler&& handler, std::shared_ptr<Impl> im, http::request req,
                    call_options o) const {
        http::client h = im->source().http(); // shares the source's connection pool
        auto ex = im->executor();
        asio::co_spawn(
            ex, call_op(std::move(im), std::move(h), std::move(req), std::move(o)),
            http::detail::send_completion<std::decay_t<Handler>>{std::forward<Handler>(handler)});
    }
};

/// Adapts the client's `void(error_code, token_set)` to the source's
/// `void(error_code, token_set, diagnostics)`, keeping the handler's associations.
template <class Handler>
struct with_diagnostics {
    Handler handler;
    std::shared_ptr<diagnostics> diag;
    void operator()(std::error_code ec, token_set t) {
        diagnostics d = std::move(*diag);
        std::move(handler)(ec, std::move(t), std::move(d));
    }
};

} // namespace detail

/// The token source of oidc::session: an oidc::client and the grant it replays (the
/// refresh_token grant is used while the session holds a valid refresh token).
class client_token_source {
public:
    client_token_source(client c, grant g) : client_(std::move(c)), grant_(std::move(g)) {}

    asio::any_io_executor get_executor() const { return client_.get_executor(); }
    bool needs_user() const noexcept { return oidc::needs_user(grant_); }
    http::client& http() noexcept { return client_.http(); }
    client& get_client() noexcept { return client_; }

    template <class Handler>
    void async_fetch(fetch_kind kind, const token_set& current, Handler&& handler) {
        auto d = std::make_shared<diagnostics>();
        auto& dr = *d;
        detail::with_diagnostics<std::decay_t<Handler>> h{std::forward<Handler>(handler),
                                                          std::move(d)};
        if (kind == fetch_kind::refresh)
            client_.refresh(current, dr, std::move(h));
        else
            client_.get_token(grant_, dr, std::move(h));
    }

private:
    client client_;
    grant grant_;
};

/// The shared token state of one (provider, client, grant): serves the cached access token
/// while it is fresh and renews it with exactly one token request however many callers
/// wait (single flight).
///
/// `Source` obtains tokens; it needs:
/// - `get_executor()`: the executor the session runs on (its state lives on a strand of it);
/// - `bool needs_user() const`: the original grant cannot be replayed without a person
///   (authorization code, device code);
/// - `async_fetch(fetch_kind, const token_set& current, Handler)`: the original grant or
///   the refresh_token grant with `current.refresh_token`; completes with
///   `void(std::error_code, token_set, diagnostics)` through the handler's associated
///   executor (never inline), honours its cancellation slot; copies what it needs from
///   `current` before returning.
/// - for call(): `http::client& http()`.
///
/// Thread safety: every member function may be called concurrently from any thread.
/// Lifetime: destroying the session completes every waiter with operation_aborted and
/// cancels the token request in flight; operations in flight keep the state alive.
template <class Source>
class basic_session {
public:
    using source_type = Source;
    using executor_type = asio::any_io_executor;

    explicit basic_session(Source source, session_options opts = {})
        : impl_(
              std::make_shared<detail::session_impl<Source>>(std::move(source), std::move(opts))) {
        impl_->start();
    }

    basic_session(basic_session&&) noexcept = default;
    basic_session& operator=(basic_session&& o) noexcept {
        if (this != &o) {
            close();
            impl_ = std::move(o.impl_);
        }
        return *this;
    }
    basic_session(const basic_session&) = delete;
    basic_session& operator=(const basic_session&) = delete;

    ~basic_session() { close(); }

    executor_type get_executor() const { return impl_->executor(); }
    Source& source() noexcept { return impl_->source(); }

    /// The current access token.
    ///
    /// - Handler: `void(std::error_code, token_ref)`; any completion token, default
    ///   `asio::use_awaitable` (throws std::system_error on error).
    /// - Executor: the handler runs on its associated executor (else the session's), never
    ///   inside this call. While the token is fresh no strand hop, I/O or allocation happens.
    /// - Lifetimes: the session may be destroyed while this waits (operation_aborted).
    /// - Cancellation: any cancellation type on the handler's slot completes this wait with
    ///   asio::error::operation_aborted at once; the shared renewal goes on for the others.
    /// - Errors: whatever the token source reported for the one renewal every waiter shared
    ///   (errc::invalid_client, errc::invalid_grant, errc::timed_out, socket errors, ...),
    ///   errc::reauthentication_required when the grant needs a person, operation_aborted.
    /// - Thread safety: any thread.
    /// - Spec: RFC 6749 6 (refresh), 10.4 (refresh token rotation).
    template <class CompletionToken = asio::use_awaitable_t<>>
    auto token(CompletionToken&& tok = {}) {
        return asio::async_initiate<CompletionToken, void(std::error_code, token_ref)>(
            detail::initiate_session_token{}, tok, impl_, static_cast<diagnostics*>(nullptr));
    }

    /// The same; on error `diag` receives the server's diagnostics (untrusted).
    /// `diag` must stay alive until the handler runs.
    template <class CompletionToken = asio::use_awaitable_t<>>
    auto token(diagnostics& diag, CompletionToken&& tok = {}) {
        return asio::async_initiate<CompletionToken, void(std::error_code, token_ref)>(
            detail::initiate_session_token{}, tok, impl_, &diag);
    }

    /// The cached token if it is fresh, else empty: synchronous, no I/O, no allocation.
    token_ref cached_token() const noexcept { return impl_ ? impl_->fresh() : token_ref(); }

    /// Drops `t` if it is still the token served (a newer one is never dropped); the next
    /// token() renews. Returns whether it was dropped.
    bool invalidate(const token_ref& t) { return impl_ && impl_->invalidate(t); }

    /// Sends `req` with `Authorization: Bearer <token>` through the source's HTTP client (its
    /// keep-alive pool). On `401` with `WWW-Authenticate: Bearer error="invalid_token"` the
    /// token used is invalidated (unless a newer one replaced it already), a fresh one is
    /// obtained and the request is sent once more; the second answer is final.
    ///
    /// - Handler: `void(std::error_code, http::response)`; any completion token, default
    ///   `asio::use_awaitable`. Any HTTP status is a success (the 401 after the replay too).
    /// - Executor: runs on the session's executor; the handler on its associated executor.
    /// - Lifetimes: `req` is moved in; the session may be destroyed meanwhile (the call then
    ///   fails with operation_aborted if it still needs a token).
    /// - Cancellation: terminal cancellation completes with operation_aborted; a token
    ///   renewal other callers share goes on.
    /// - Errors: those of token() and of http::client::async_send; errc::timed_out after
    ///   `call_options::timeout`.
    /// - Thread safety: any thread.
    /// - Spec: RFC 6750 2.1 (Authorization header), 3.1 (invalid_token).
    template <class CompletionToken = asio::use_awaitable_t<>>
    requires(!std::is_same_v<std::decay_t<CompletionToken>, call_options>) auto call(
        http::request req, CompletionToken&& tok = {}) {
        return call(std::move(req), call_options{}, std::forward<CompletionToken>(tok));
    }

    /// The same with a per-call timeout and HTTP options.
    template <class CompletionToken = asio::use_awaitable_t<>>
    auto call(http::request req, call_options opts, CompletionToken&& tok = {}) {
        return asio::async_initiate<CompletionToken, void(std::error_code, http::response)>(
            detail::initiate_call{}, tok, impl_, std::move(req), std::move(opts));
    }

    /// The shared state (tests, call()).
    const std::shared_ptr<detail::session_impl<Source>>& impl() const noexcept { return impl_; }

private:
    void close() {
        if (auto im = std::move(impl_))
            asio::dispatch(im->strand(), [im] { im->shutdown(); });
    }

    std::shared_ptr<detail::session_impl<Source>> impl_;
};

/// The session over an oidc::client: `oidc::session s({client, oidc::password_grant{...}});`
using session = basic_session<client_token_source>;

} // namespace oidc

// Forward every association (executor, allocator, cancellation slot) of the wrapped handler.
template <template <typename, typename> class Associator, class Handler, class Default>
struct asio::associator<Associator, oidc::detail::with_diagnostics<Handler>, Default> {
    static typename Associator<Handler, Default>::type
    get(const oidc::detail::with_diagnostics<Handler>& h, const Default& d = Default()) noexcept {
        return Associator<Handler, Default>::get(h.handler, d);
    }
};
