// asio-oidc: the resource-server path. A cached JWK Set fetched from jwks_uri (or a given URL
// such as OAuthSD's ".../keys?aud=<client_id>"), and JWT verification against it.
#pragma once

#include <oidc/client.hpp>
#include <oidc/detail/async_op.hpp>
#include <oidc/detail/config.hpp>
#include <oidc/error.hpp>
#include <oidc/http/client.hpp>
#include <oidc/jose/claims.hpp>
#include <oidc/jose/jwk.hpp>
#include <oidc/jose/jws.hpp>
#include <oidc/jose/jwt.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace oidc {

struct jwks_cache_options {
    /// The key set URL. Empty: the jwks_uri of the client's provider metadata (constructor
    /// taking a client).
    std::string url;
    http::client_options http;             ///< for the constructor that makes its own HTTP client
    std::chrono::seconds default_ttl{300}; ///< without Cache-Control max-age
    std::chrono::seconds min_ttl{60};      ///< max-age (and no-cache / no-store) clamped to this
    std::chrono::seconds max_ttl{86400};
    /// At most one fetch per cooldown caused by an unknown kid or after a failed fetch: a
    /// flood of tokens with random kids cannot turn into a flood of requests.
    std::chrono::seconds refetch_cooldown{30};
    /// How long past their expiry cached keys are still served when refreshing fails
    /// (stale-if-error).
    std::chrono::seconds max_stale{3600};
    std::chrono::milliseconds timeout{10000}; ///< bound of one fetch and of each call
};

/// The decision for one lookup (pure; jwks_cache runs it under its lock).
enum class jwks_action {
    use_cached, ///< the cached keys answer
    fetch,      ///< fetch (or join the fetch in flight), then answer
};

/// What the cache knows at one instant.
struct jwks_cache_view {
    bool have_keys = false;
    bool kid_known = true; ///< the requested kid is in the cached set (or none requested)
    std::chrono::steady_clock::time_point expires_at{};
    std::chrono::steady_clock::time_point last_attempt{}; ///< last fetch start
    bool attempted = false;                               ///< a fetch ever started
    bool last_failed = false;
};

/// Fetch when there are no keys, when they expired, or when the kid is unknown; but at most
/// once per cooldown for an unknown kid or after a failure (then the cached keys answer,
/// when there are any, else the fetch goes ahead only after the cooldown: use_cached with no
/// keys means "fail with the last error").
inline jwks_action decide_jwks(const jwks_cache_view& v, std::chrono::steady_clock::time_point now,
                               const jwks_cache_options& o) {
    const bool in_cooldown = v.attempted && now < v.last_attempt + o.refetch_cooldown;
    if (!v.have_keys)
        return v.last_failed && in_cooldown ? jwks_action::use_cached : jwks_action::fetch;
    const bool fresh = now < v.expires_at;
    if (fresh && v.kid_known)
        return jwks_action::use_cached;
    if (in_cooldown && (v.last_failed || fresh))
        return jwks_action::use_cached;
    return jwks_action::fetch;
}

/// The lifetime of a fetched key set from its Cache-Control header: max-age (s-maxage is
/// for shared caches and ignored), no-store / no-cache -> min_ttl, none -> default_ttl;
/// always clamped to [min_ttl, max_ttl].
inline std::chrono::seconds jwks_ttl(std::string_view cache_control, const jwks_cache_options& o) {
    std::chrono::seconds ttl = o.default_ttl;
    std::string cc;
    for (char c : cache_control)
        cc += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    std::string_view s = cc;
    while (!s.empty()) {
        auto comma = s.find(',');
        std::string_view d = s.substr(0, comma);
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
        while (!d.empty() && (d.front() == ' ' || d.front() == '\t'))
            d.remove_prefix(1);
        while (!d.empty() && (d.back() == ' ' || d.back() == '\t'))
            d.remove_suffix(1);
        if (d == "no-store" || d == "no-cache") {
            ttl = o.min_ttl;
            break;
        }
        if (d.substr(0, 8) == "max-age=") {
            std::string_view n = d.substr(8);
            if (!n.empty() && n.front() == '"' && n.size() >= 2 && n.back() == '"')
                n = n.substr(1, n.size() - 2);
            if (n.empty() || n.size() > 10)
                continue;
            std::int64_t v = 0;
            bool ok = true;
            for (char c : n) {
                if (c < '0' || c > '9') {
                    ok = false;
                    break;
                }
                v = v * 10 + (c - '0');
            }
            if (ok)
                ttl = std::chrono::seconds(v);
        }
    }
    return std::clamp(ttl, o.min_ttl, std::max(o.min_ttl, o.max_ttl));
}

namespace detail {

struct jwks_flight {
    std::mutex mu;
    bool done = false;
    std::error_code ec;
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
};

struct jwks_state {
    jwks_state(asio::any_io_executor e, jwks_cache_options o, http::client h,
               std::optional<oidc::client> c)
        : ex(std::move(e)), opts(std::move(o)), http(std::move(h)), owner(std::move(c)) {}

    asio::any_io_executor ex;
    const jwks_cache_options opts;
    http::client http;
    std::optional<oidc::client> owner;

    std::mutex mu; // guards everything below; never held across I/O
    std::shared_ptr<const jose::jwk_set> keys;
    std::chrono::steady_clock::time_point expires_at{};
    std::chrono::steady_clock::time_point last_attempt{};
    bool attempted = false;
    bool last_failed = false;
    std::error_code last_error;
    diagnostics last_diag;
    std::shared_ptr<jwks_flight> flight;
    std::uint64_t fetches = 0;
};

using jwks_state_ptr = std::shared_ptr<jwks_state>;

inline bool has_kid(const jose::jwk_set& s, std::string_view kid) {
    if (kid.empty())
        return true;
    for (const auto& k : s.keys())
        if (k.kid() == kid)
            return true;
    return false;
}

// The fetch itself, run detached (no caller's cancellation stops it), bounded by the timeout.
// (State is a template parameter so that the discover() call is only instantiated when used:
// see OIDC_CORO.)
template <class State>
inline asio::awaitable<op_result<no_value>> jwks_fetch(std::shared_ptr<State> st) {
    op_result<no_value> out;
    std::string url = st->opts.url;
    if (url.empty() && st->owner) {
        auto [ec, md] = co_await st->owner->discover(net::use_nothrow_awaitable);
        if (ec) {
            out.ec = ec;
            co_return out;
        }
        url = md.jwks_uri;
    }
    if (url.empty()) {
        out.ec = errc::endpoint_not_supported;
        co_return out;
    }
    http::request req = json_get(url);
    auto [ec, resp] = co_await st->http.async_send(std::move(req), net::use_nothrow_awaitable);
    if (ec) {
        out.ec = ec;
        co_return out;
    }
    if (resp.status != 200) {
        out.ec = read_oauth_error(resp.body, resp.status, out.diag);
        co_return out;
    }
    auto set = std::make_shared<jose::jwk_set>();
    if ((out.ec = jose::jwk_set::parse(resp.body, *set))) {
        out.diag.http_status = resp.status;
        co_return out;
    }
    if (set->empty()) {
        out.ec = errc::jwk_set_invalid;
        co_return out;
    }
    auto ttl = jwks_ttl(resp.headers.get("Cache-Control").value_or(""), st->opts);
    std::lock_guard<std::mutex> lock(st->mu);
    st->keys = std::move(set);
    st->expires_at = std::chrono::steady_clock::now() + ttl;
    co_return out;
}

OIDC_CORO inline asio::awaitable<void> jwks_leader(jwks_state_ptr st,
                                                   std::shared_ptr<jwks_flight> f) {
    auto fetch = jwks_fetch(st);
    auto r = co_await with_timeout<no_value>(std::move(fetch), st->opts.timeout);
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
    {
        std::lock_guard<std::mutex> lock(st->mu);
        st->last_failed = static_cast<bool>(r.ec);
        if (r.ec) {
            st->last_error = r.ec;
            st->last_diag = r.diag;
        }
        st->flight.reset();
    }
    {
        std::lock_guard<std::mutex> lock(f->mu);
        f->done = true;
        f->ec = r.ec;
        waiters.swap(f->waiters);
    }
    for (auto& t : waiters)
        asio::post(t->get_executor(), [t] { t->cancel(); });
}

// Answers from the cache state after a fetch (or without one): the keys, stale ones within
// max_stale when the last fetch failed, else the last error.
inline op_result<std::shared_ptr<const jose::jwk_set>> jwks_answer(jwks_state& st) {
    op_result<std::shared_ptr<const jose::jwk_set>> out;
    std::lock_guard<std::mutex> lock(st.mu);
    auto now = std::chrono::steady_clock::now();
    if (st.keys && (!st.last_failed || now < st.expires_at + st.opts.max_stale)) {
        out.value = st.keys;
        return out;
    }
    out.ec = st.last_error ? st.last_error : std::error_code(errc::key_not_found);
    out.diag = st.last_diag;
    return out;
}

OIDC_CORO inline asio::awaitable<op_result<std::shared_ptr<const jose::jwk_set>>>
jwks_get_op(jwks_state_ptr st, std::string kid) {
    std::shared_ptr<jwks_flight> f;
    {
        std::lock_guard<std::mutex> lock(st->mu);
        jwks_cache_view v;
        v.have_keys = st->keys != nullptr;
        v.kid_known = st->keys && has_kid(*st->keys, kid);
        v.expires_at = st->expires_at;
        v.last_attempt = st->last_attempt;
        v.attempted = st->attempted;
        v.last_failed = st->last_failed;
        auto now = std::chrono::steady_clock::now();
        if (st->flight) {
            f = st->flight;
        } else if (decide_jwks(v, now, st->opts) == jwks_action::fetch) {
            f = std::make_shared<jwks_flight>();
            st->flight = f;
            st->attempted = true;
            st->last_attempt = now;
            ++st->fetches;
            asio::co_spawn(asio::make_strand(st->ex), jwks_leader(st, f), asio::detached);
        }
    }
    if (f) {
        auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                          asio::steady_timer::time_point::max());
        bool done;
        {
            std::lock_guard<std::mutex> lock(f->mu);
            done = f->done;
            if (!done)
                f->waiters.push_back(timer);
        }
        if (!done) {
            co_await timer->async_wait(net::use_nothrow_awaitable);
            std::lock_guard<std::mutex> lock(f->mu);
            if (!f->done) { // our own wait was cancelled; the fetch goes on for the others
                op_result<std::shared_ptr<const jose::jwk_set>> out;
                out.ec = asio::error::operation_aborted;
                co_return out;
            }
        }
    }
    co_return jwks_answer(*st);
}

OIDC_CORO inline asio::awaitable<op_result<jose::claims>>
jwks_verify_op(jwks_state_ptr st, std::string token, jose::validation_options vo) {
    op_result<jose::claims> out;
    jose::jws parsed;
    if ((out.ec = jose::jws::parse(token, parsed, vo.limits)))
        co_return out;
    auto keys = co_await jwks_get_op(st, parsed.header().kid);
    if (keys.ec) {
        out.ec = keys.ec;
        out.diag = std::move(keys.diag);
        co_return out;
    }
    out.ec = jose::validate(token, *keys.value, vo, out.value);
    co_return out;
}

} // namespace detail

/// A cached JWK Set for verifying tokens (the resource-server path).
///
/// - Freshness: a fetched set lives for its Cache-Control max-age, clamped to
///   [min_ttl, max_ttl] (default_ttl without one).
/// - Rotation: a kid not in the set triggers one refetch, at most once per refetch_cooldown.
/// - Single flight: concurrent callers that need a fetch share one request; a caller that
///   cancels its own wait does not cancel the fetch the others wait for.
/// - Stale-if-error: when a refresh fails, the previous keys keep answering for max_stale
///   past their expiry; failed fetches are retried at most once per cooldown.
///
/// Every asynchronous function: any completion token (default asio::use_awaitable, which
/// throws oidc::oauth_error); runs on a strand of the cache's executor, the handler on its
/// associated executor; arguments are copied in and the cache may be destroyed while an
/// operation runs; bounded by jwks_cache_options::timeout (errc::timed_out); terminal
/// per-operation cancellation gives operation_aborted; safe to call concurrently from any
/// thread (the state is behind a mutex never held across I/O).
class jwks_cache {
public:
    using executor_type = asio::any_io_executor;

    /// A cache with its own HTTP client; `opts.url` is required.
    jwks_cache(executor_type ex, jwks_cache_options opts)
        : st_(std::make_shared<detail::jwks_state>(ex, opts, http::client(ex, opts.http),
                                                   std::nullopt)) {}

    /// A cache sharing a client's HTTP client and TLS settings; without `opts.url` the keys
    /// come from the client's provider metadata (jwks_uri, discovered when needed).
    jwks_cache(const oidc::client& c, jwks_cache_options opts)
        : st_(std::make_shared<detail::jwks_state>(c.get_executor(), std::move(opts), c.http(),
                                                   c)) {}

    executor_type get_executor() const { return st_->ex; }

    /// The key set, fetched when needed (see the class comment); `kid` may be empty.
    /// Handler: `void(std::error_code, std::shared_ptr<const jose::jwk_set>)`. Errors: the
    /// fetch's (HTTP, errc::http_status_unexpected with diagnostics, JWK Set parse errors,
    /// errc::jwk_set_invalid for an empty set) when no usable keys are cached. A kid still
    /// unknown after the refetch is not an error here (verify() reports key_not_found).
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto get(std::string kid, CompletionToken&& token = {}) {
        return detail::start_op<std::shared_ptr<const jose::jwk_set>>(
            st_->ex, st_->opts.timeout, nullptr,
            [st = st_, kid = std::move(kid)] { return detail::jwks_get_op(st, kid); },
            std::forward<CompletionToken>(token));
    }

    /// Verifies a JWT end to end: the header's kid selects the keys (refetching once for an
    /// unknown kid), then jose::validate checks the signature and the claims of `vo` (RFC 7519,
    /// RFC 9068 with the access_token profile). Handler: `void(std::error_code, jose::claims)`.
    /// Errors: those of get() and of jose::validate (key_not_found, signature_invalid,
    /// token_expired, audience_mismatch, ...); never the token in an error text.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto verify(std::string token_value, jose::validation_options vo,
                CompletionToken&& token = {}) {
        return detail::start_op<jose::claims>(
            st_->ex, st_->opts.timeout, nullptr,
            [st = st_, t = std::move(token_value), vo = std::move(vo)] {
                return detail::jwks_verify_op(st, t, vo);
            },
            std::forward<CompletionToken>(token));
    }

    /// Fetches started so far (tests, metrics).
    std::uint64_t fetch_count() const {
        std::lock_guard<std::mutex> lock(st_->mu);
        return st_->fetches;
    }

    /// Drops the cached keys (the next call fetches).
    void clear() {
        std::lock_guard<std::mutex> lock(st_->mu);
        st_->keys.reset();
        st_->attempted = false;
        st_->last_failed = false;
    }

private:
    std::shared_ptr<detail::jwks_state> st_;
};

} // namespace oidc
