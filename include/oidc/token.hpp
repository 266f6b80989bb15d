// asio-oidc: the token set a token endpoint returns, and the sans-io reading of token and
// OAuth error responses (RFC 6749 5.1 / 5.2, RFC 8628 3.5, RFC 8693 2.2).
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/error.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace oidc {

using clock = std::chrono::system_clock;

/// What a token endpoint issued. Expiry instants are computed from `expires_in` /
/// `refresh_expires_in` at the moment the response was received.
struct token_set {
    std::string access_token;
    std::string token_type;                      ///< "Bearer" (compared case-insensitively)
    std::optional<clock::time_point> expires_at; ///< absent when the server sent no expires_in
    std::string refresh_token;                   ///< empty when none was issued
    std::optional<clock::time_point> refresh_expires_at; ///< Keycloak's refresh_expires_in
    std::string id_token;                                ///< empty when none was issued
    std::string scope;                                   ///< granted scope (empty: as requested)
    std::string issued_token_type;                       ///< RFC 8693 token exchange
    clock::time_point received_at{};

    /// True while the access token is usable at `now` with `margin` to spare. A token without
    /// expires_in is taken as valid until the resource server says otherwise.
    bool access_valid(clock::time_point now, clock::duration margin = {}) const noexcept {
        return !access_token.empty() && (!expires_at || now + margin < *expires_at);
    }
    /// True when a refresh token exists and has not passed its known expiry.
    bool refresh_valid(clock::time_point now) const noexcept {
        return !refresh_token.empty() && (!refresh_expires_at || now < *refresh_expires_at);
    }
    /// Any member of the response, including non-standard ones ("session_state",
    /// "not-before-policy"); nullptr when absent.
    const detail::json::value* member(std::string_view name) const noexcept {
        return raw_ ? raw_->find(name) : nullptr;
    }
    /// A member as compact JSON text ("" when absent).
    std::string member_json(std::string_view name) const {
        const auto* v = member(name);
        return v ? detail::json::dump(*v) : std::string();
    }

private:
    friend std::error_code parse_token_response(std::string_view, int, clock::time_point,
                                                token_set&, diagnostics&);
    std::shared_ptr<const detail::json::value> raw_;
};

/// Maps an OAuth / OpenID "error" value to its code; unknown values give oauth_error_other.
inline errc oauth_error_code(std::string_view error) noexcept {
    struct entry {
        std::string_view name;
        errc code;
    };
    static constexpr entry table[] = {
        {"invalid_request", errc::invalid_request},
        {"invalid_client", errc::invalid_client},
        {"invalid_grant", errc::invalid_grant},
        {"unauthorized_client", errc::unauthorized_client},
        {"unsupported_grant_type", errc::unsupported_grant_type},
        {"invalid_scope", errc::invalid_scope},
        {"access_denied", errc::access_denied},
        {"unsupported_response_type", errc::unsupported_response_type},
        {"server_error", errc::server_error},
        {"temporarily_unavailable", errc::temporarily_unavailable},
        {"authorization_pending", errc::authorization_pending},
        {"slow_down", errc::slow_down},
        {"expired_token", errc::expired_token},
        {"invalid_token", errc::invalid_token},
        {"insufficient_scope", errc::insufficient_scope},
        {"interaction_required", errc::interaction_required},
        {"login_required", errc::login_required},
        {"consent_required", errc::consent_required},
        {"unsupported_token_type", errc::unsupported_token_type},
    };
    for (const auto& e : table)
        if (e.name == error)
            return e.code;
    return errc::oauth_error_other;
}

namespace detail {
// Server texts are kept for operators, bounded in size and stripped of control characters.
inline std::string untrusted_text(std::string_view s, std::size_t max = 512) {
    std::string out;
    out.reserve(std::min(s.size(), max));
    for (char c : s.substr(0, max))
        out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
    return out;
}

/// Reads an OAuth error body (RFC 6749 5.2) into `diag`; returns the code it names, or
/// http_status_unexpected when the body is not an OAuth error.
inline std::error_code read_oauth_error(std::string_view body, int status, diagnostics& diag) {
    diag.clear();
    diag.http_status = status;
    json::value v;
    if (!json::parse_object(body, v)) {
        if (const auto* e = v.find_string("error"); e && !e->empty()) {
            diag.error = untrusted_text(*e, 128);
            if (const auto* d = v.find_string("error_description"))
                diag.error_description = untrusted_text(*d);
            if (const auto* u = v.find_string("error_uri"))
                diag.error_uri = untrusted_text(*u);
            return oauth_error_code(*e);
        }
    }
    return errc::http_status_unexpected;
}

// A JSON number of seconds in [0, max] (a fraction is dropped). A non-integral number is
// bounded before its conversion, which is undefined outside int64's range (1e300).
inline bool read_number_seconds(const json::value& v, std::int64_t max, std::int64_t& out) {
    if (v.is_integer()) {
        out = v.as_integer();
        return out >= 0 && out <= max;
    }
    if (!v.is_number())
        return false;
    const double d = v.as_double();
    if (!(d >= 0 && d <= static_cast<double>(max)))
        return false;
    out = static_cast<std::int64_t>(d);
    return true;
}

// A lifetime in seconds, up to ten years: a JSON number, or (as some providers send) a
// string of digits.
inline bool read_seconds(const json::value& v, std::int64_t& out) {
    constexpr std::int64_t max = std::int64_t{10} * 365 * 24 * 3600;
    if (!v.is_string())
        return read_number_seconds(v, max, out);
    if (v.as_string().empty() || v.as_string().size() > 12)
        return false;
    out = 0;
    for (char c : v.as_string()) {
        if (c < '0' || c > '9')
            return false;
        out = out * 10 + (c - '0');
    }
    return out <= max;
}

// A point in time in seconds since the epoch (a JSON number), from 1970 to the end of year
// 9999.
inline bool read_epoch_seconds(const json::value& v, std::int64_t& out) {
    return read_number_seconds(v, 253402300799, out); // 9999-12-31T23:59:59Z
}
} // namespace detail

/// Reads a token endpoint response: a 200 with the RFC 6749 5.1 members becomes `out`; an
/// error response becomes its code with `diag` filled (status, error, description, uri).
/// Errors: the OAuth codes, http_status_unexpected, token_response_invalid (missing
/// access_token / token_type, wrong member types), JSON errors.
inline std::error_code parse_token_response(std::string_view body, int status,
                                            clock::time_point now, token_set& out,
                                            diagnostics& diag) {
    diag.clear();
    if (status != 200)
        return detail::read_oauth_error(body, status, diag);
    auto v = std::make_shared<detail::json::value>();
    if (auto ec = detail::json::parse_object(body, *v)) {
        diag.http_status = status;
        return ec;
    }
    token_set t;
    t.received_at = now;
    const auto* at = v->find_string("access_token");
    const auto* tt = v->find_string("token_type");
    if (!at || at->empty() || !tt || tt->empty()) {
        diag.http_status = status;
        return errc::token_response_invalid;
    }
    t.access_token = *at;
    t.token_type = *tt;
    auto opt_string = [&](std::string_view name, std::string& dst) {
        const auto* m = v->find(name);
        if (!m || m->is_null())
            return true;
        if (!m->is_string())
            return false;
        dst = m->as_string();
        return true;
    };
    auto opt_expiry = [&](std::string_view name, std::optional<clock::time_point>& dst) {
        const auto* m = v->find(name);
        if (!m || m->is_null())
            return true;
        std::int64_t secs = 0;
        if (!detail::read_seconds(*m, secs))
            return false;
        // Keycloak sends refresh_expires_in 0 for offline tokens: no known expiry.
        if (secs > 0 || name == "expires_in")
            dst = now + std::chrono::seconds(secs);
        return true;
    };
    if (!opt_string("refresh_token", t.refresh_token) || !opt_string("id_token", t.id_token) ||
        !opt_string("scope", t.scope) || !opt_string("issued_token_type", t.issued_token_type) ||
        !opt_expiry("expires_in", t.expires_at) ||
        !opt_expiry("refresh_expires_in", t.refresh_expires_at)) {
        diag.http_status = status;
        return errc::token_response_invalid;
    }
    t.raw_ = std::move(v);
    out = std::move(t);
    return {};
}

} // namespace oidc
