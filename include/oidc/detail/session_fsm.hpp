// asio-oidc: the pure decisions of oidc::session (no I/O): which request renews a token,
// which errors are worth a retry, how long to back off, when a token turns stale and when a
// proactive refresh starts. Whether a 401 says the token itself was rejected is in
// detail/www_authenticate.hpp.
#pragma once

#include <oidc/detail/www_authenticate.hpp>
#include <oidc/error.hpp>
#include <oidc/http/message.hpp>
#include <oidc/token.hpp>

#include <asio/error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string_view>
#include <system_error>

namespace oidc {

/// Which token request a session asks its token source for.
enum class fetch_kind {
    grant,   ///< the session's original grant (password, client credentials, ...)
    refresh, ///< the refresh_token grant with the current refresh token
};

/// Retry policy of a session's token requests: exponential backoff with jitter, capped.
struct backoff_options {
    std::chrono::milliseconds initial{200}; ///< delay after the first failure
    double multiplier = 2.0;                ///< growth per further failure
    std::chrono::milliseconds max{30000};   ///< cap of one delay
    /// Fraction of each delay that is random: a delay d becomes d*(1-jitter) + U(0, d*jitter).
    double jitter = 0.5;
    /// Attempts of one refresh on transient errors (1 = no retry) before the waiters get
    /// the error.
    int max_attempts = 3;
};

namespace detail {

/// What the session does next to renew its token.
enum class next_step {
    fetch_grant,    ///< replay the original grant
    fetch_refresh,  ///< refresh_token grant
    reauthenticate, ///< the grant needs a person: report reauthentication_required
};

/// The renewal decision: the refresh token while it lives and was not rejected, else the
/// original grant, unless that grant needs a person (authorization code, device code).
inline next_step decide_fetch(const token_set* current, clock::time_point now,
                              bool grant_needs_user, bool refresh_rejected) noexcept {
    if (current && !refresh_rejected && current->refresh_valid(now))
        return next_step::fetch_refresh;
    return grant_needs_user ? next_step::reauthenticate : next_step::fetch_grant;
}

/// How a failed token request is handled.
enum class failure_class {
    transient,        ///< network, timeout, 5xx, 429, server_error, temporarily_unavailable
    permanent,        ///< reported at once (invalid_client, invalid_grant on the grant, TLS ...)
    refresh_rejected, ///< the refresh token was refused: fall back to the original grant
    aborted,          ///< operation_aborted (the session is closing)
};

inline bool is_network_error(const std::error_code& ec) noexcept {
    const auto& cat = ec.category();
    if (cat == std::system_category() || cat == std::generic_category()) {
        // Refused, reset, unreachable, broken pipe, ... : everything the socket layer says.
        return true;
    }
    const std::string_view name = cat.name();
    // asio.system (Asio's own socket errors), asio.misc (eof), asio.netdb / asio.addrinfo
    // (resolver), asio.ssl (handshake I/O)
    return name == "asio.system" || name == "asio.misc" || name == "asio.netdb" ||
           name == "asio.addrinfo" || name == "asio.ssl" || name == "asio.ssl.stream";
}

/// Classifies a failed token request of kind `kind`; `http_status` is the diagnostics'
/// status (0 when no response arrived).
inline failure_class classify_failure(const std::error_code& ec, fetch_kind kind,
                                      int http_status) noexcept {
    if (ec == std::errc::operation_canceled || ec == asio::error::operation_aborted)
        return failure_class::aborted;
    if (ec.category() == oidc_category()) {
        switch (static_cast<errc>(ec.value())) {
        case errc::invalid_grant:
            return kind == fetch_kind::refresh ? failure_class::refresh_rejected
                                               : failure_class::permanent;
        case errc::timed_out:
        case errc::http_truncated:
        case errc::server_error:
        case errc::temporarily_unavailable:
            return failure_class::transient;
        case errc::http_status_unexpected:
        case errc::token_response_invalid:
        case errc::json_invalid:
            // A proxy's 502 page or a 429: worth a retry; other statuses are not.
            return (http_status >= 500 || http_status == 429 || http_status == 408)
                       ? failure_class::transient
                       : failure_class::permanent;
        default:
            return failure_class::permanent;
        }
    }
    if (is_network_error(ec))
        return failure_class::transient;
    return failure_class::permanent;
}

/// The delay after `failures` consecutive failures (1 = the first), `u01` uniform in [0, 1).
inline std::chrono::milliseconds backoff_delay(int failures, const backoff_options& o,
                                               double u01) noexcept {
    if (failures < 1)
        failures = 1;
    const double cap = static_cast<double>(std::max<std::int64_t>(o.max.count(), 0));
    double d = static_cast<double>(std::max<std::int64_t>(o.initial.count(), 0));
    const double mult = o.multiplier < 1.0 ? 1.0 : o.multiplier;
    for (int i = 1; i < failures && d < cap; ++i)
        d *= mult;
    d = std::min(d, cap);
    const double j = std::clamp(o.jitter, 0.0, 1.0);
    d = d * (1.0 - j) + d * j * std::clamp(u01, 0.0, 1.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(d)));
}

/// The lifetime the server granted (expires_at - received_at), if known and positive.
inline std::optional<clock::duration> lifetime(const token_set& t) noexcept {
    if (!t.expires_at)
        return std::nullopt;
    auto l = *t.expires_at - t.received_at;
    if (l <= clock::duration::zero())
        return clock::duration::zero();
    return l;
}

/// The safety margin before expiry: `fixed + fraction * lifetime`, never more than half
/// the lifetime (a 2-second token is usable for a second, not never).
inline clock::duration effective_margin(const token_set& t, clock::duration fixed,
                                        double fraction) noexcept {
    auto l = lifetime(t);
    if (!l)
        return clock::duration::zero();
    auto m = fixed + std::chrono::duration_cast<clock::duration>(
                         std::chrono::duration<double, clock::period>(
                             static_cast<double>(l->count()) * std::clamp(fraction, 0.0, 1.0)));
    return std::min(m, *l / 2);
}

/// The instant from which the access token is no longer served (nullopt: no known expiry).
inline std::optional<clock::time_point> stale_at(const token_set& t, clock::duration fixed,
                                                 double fraction) noexcept {
    if (!t.expires_at)
        return std::nullopt;
    return *t.expires_at - effective_margin(t, fixed, fraction);
}

/// When a background refresh starts: at `at` of the lifetime, minus up to `jitter` of the
/// lifetime (`u01` uniform in [0, 1)), and never after the token turns stale.
inline std::optional<clock::time_point> proactive_at(const token_set& t, clock::duration fixed,
                                                     double fraction, double at, double jitter,
                                                     double u01) noexcept {
    auto l = lifetime(t);
    auto stale = stale_at(t, fixed, fraction);
    if (!l || !stale)
        return std::nullopt;
    const double lc = static_cast<double>(l->count());
    const double off = lc * std::clamp(at, 0.0, 1.0) -
                       lc * std::clamp(jitter, 0.0, 1.0) * std::clamp(u01, 0.0, 1.0);
    auto when = t.received_at + clock::duration(static_cast<clock::rep>(std::max(off, 0.0)));
    return std::min(when, *stale);
}

} // namespace detail
} // namespace oidc
