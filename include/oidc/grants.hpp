// asio-oidc: the OAuth 2.0 grants a token endpoint accepts, as plain data, and their form
// encoding (RFC 6749 4.1.3, 4.3.2, 4.4.2, 6; RFC 8628 3.4; RFC 8693 2.1; RFC 7523 2.1).
// Also the device authorization response and the pure polling decision of RFC 8628 3.5.
// No I/O: oidc::client sends what this header builds.
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/error.hpp>
#include <oidc/http/url.hpp>
#include <oidc/token.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace oidc {

/// Extra form parameters (name, value), sent in order after the grant's own ones:
/// "resource", "audience", vendor parameters. Names the grant already sends are refused.
using params = std::vector<std::pair<std::string, std::string>>;

/// Resource owner password credentials (RFC 6749 4.3; Keycloak's "Direct Access Grants").
struct password_grant {
    std::string username;
    std::string password; ///< secret: never logged, never in an error text
    std::string scope;
    params extra;
};

/// Client credentials (RFC 6749 4.4): the client acts on its own behalf.
struct client_credentials_grant {
    std::string scope;
    params extra;
};

/// Authorization code (RFC 6749 4.1.3) with the PKCE verifier (RFC 7636 4.5).
struct authorization_code_grant {
    std::string code;          ///< secret
    std::string redirect_uri;  ///< exactly as sent in the authorization request
    std::string code_verifier; ///< secret; empty when PKCE was not used
    params extra;
};

/// Refresh token (RFC 6749 6).
struct refresh_token_grant {
    std::string refresh_token; ///< secret
    std::string scope;         ///< empty: the originally granted scope
    params extra;
};

/// Device code (RFC 8628 3.4), after a device authorization request.
struct device_code_grant {
    std::string device_code; ///< secret
    params extra;
};

/// Token exchange (RFC 8693 2.1). Empty members are not sent; subject_token and
/// subject_token_type are required.
struct token_exchange_grant {
    std::string subject_token; ///< secret
    std::string subject_token_type = "urn:ietf:params:oauth:token-type:access_token";
    std::string actor_token; ///< secret
    std::string actor_token_type;
    std::string requested_token_type;
    std::string audience;
    std::string resource;
    std::string scope;
    params extra;
};

/// JWT bearer assertion as an authorization grant (RFC 7523 2.1).
struct jwt_bearer_grant {
    std::string assertion; ///< secret
    std::string scope;
    params extra;
};

using grant =
    std::variant<password_grant, client_credentials_grant, authorization_code_grant,
                 refresh_token_grant, device_code_grant, token_exchange_grant, jwt_bearer_grant>;

inline constexpr std::string_view device_code_grant_type =
    "urn:ietf:params:oauth:grant-type:device_code";
inline constexpr std::string_view token_exchange_grant_type =
    "urn:ietf:params:oauth:grant-type:token-exchange";
inline constexpr std::string_view jwt_bearer_grant_type =
    "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The grant_type value of a grant.
inline std::string_view grant_type(const grant& g) noexcept {
    struct visitor {
        std::string_view operator()(const password_grant&) const { return "password"; }
        std::string_view operator()(const client_credentials_grant&) const {
            return "client_credentials";
        }
        std::string_view operator()(const authorization_code_grant&) const {
            return "authorization_code";
        }
        std::string_view operator()(const refresh_token_grant&) const { return "refresh_token"; }
        std::string_view operator()(const device_code_grant&) const {
            return device_code_grant_type;
        }
        std::string_view operator()(const token_exchange_grant&) const {
            return token_exchange_grant_type;
        }
        std::string_view operator()(const jwt_bearer_grant&) const { return jwt_bearer_grant_type; }
    };
    return std::visit(visitor{}, g);
}

/// True for grants that need a person to take part again (authorization code, device code):
/// they cannot be replayed when a refresh fails; oidc::session then reports
/// errc::reauthentication_required.
inline bool needs_user(const grant& g) noexcept {
    return std::holds_alternative<authorization_code_grant>(g) ||
           std::holds_alternative<device_code_grant>(g);
}

namespace detail {
// Parameters the library sends itself and that `extra` must not override (a duplicate
// parameter is invalid_request per RFC 6749 3.2 and would let a caller smuggle a grant).
inline bool reserved_param(std::string_view name) noexcept {
    constexpr std::string_view names[] = {"grant_type",
                                          "client_id",
                                          "client_secret",
                                          "client_assertion",
                                          "client_assertion_type",
                                          "username",
                                          "password",
                                          "code",
                                          "code_verifier",
                                          "redirect_uri",
                                          "refresh_token",
                                          "device_code",
                                          "subject_token",
                                          "subject_token_type",
                                          "actor_token",
                                          "actor_token_type",
                                          "assertion"};
    for (auto n : names)
        if (n == name)
            return true;
    return false;
}

inline void append_if(std::string& body, std::string_view name, std::string_view value) {
    if (!value.empty())
        http::form_append(body, name, value);
}

inline std::error_code append_extra(std::string& body, const params& extra) {
    for (const auto& [name, value] : extra) {
        if (name.empty() || reserved_param(name))
            return errc::invalid_request;
        http::form_append(body, name, value);
    }
    return {};
}
} // namespace detail

/// Appends grant_type and the grant's parameters to a form body (client authentication is
/// added separately, see client_auth.hpp). Errors: errc::invalid_request when a required
/// member is empty or `extra` names a parameter the grant sends itself. On error `body` is
/// unspecified.
inline std::error_code append_grant_form(const grant& g, std::string& body) {
    http::form_append(body, "grant_type", grant_type(g));
    using detail::append_if;
    struct visitor {
        std::string& b;
        std::error_code operator()(const password_grant& p) const {
            if (p.username.empty())
                return errc::invalid_request;
            http::form_append(b, "username", p.username);
            http::form_append(b, "password", p.password);
            append_if(b, "scope", p.scope);
            return detail::append_extra(b, p.extra);
        }
        std::error_code operator()(const client_credentials_grant& p) const {
            append_if(b, "scope", p.scope);
            return detail::append_extra(b, p.extra);
        }
        std::error_code operator()(const authorization_code_grant& p) const {
            if (p.code.empty())
                return errc::invalid_request;
            http::form_append(b, "code", p.code);
            append_if(b, "redirect_uri", p.redirect_uri);
            append_if(b, "code_verifier", p.code_verifier);
            return detail::append_extra(b, p.extra);
        }
        std::error_code operator()(const refresh_token_grant& p) const {
            if (p.refresh_token.empty())
                return errc::invalid_request;
            http::form_append(b, "refresh_token", p.refresh_token);
            append_if(b, "scope", p.scope);
            return detail::append_extra(b, p.extra);
        }
        std::error_code operator()(const device_code_grant& p) const {
            if (p.device_code.empty())
                return errc::invalid_request;
            http::form_append(b, "device_code", p.device_code);
            return detail::append_extra(b, p.extra);
        }
        std::error_code operator()(const token_exchange_grant& p) const {
            if (p.subject_token.empty() || p.subject_token_type.empty())
                return errc::invalid_request;
            if (p.actor_token.empty() != p.actor_token_type.empty())
                return errc::invalid_request; // RFC 8693 2.1: both or neither
            append_if(b, "resource", p.resource);
            append_if(b, "audience", p.audience);
            append_if(b, "scope", p.scope);
            append_if(b, "requested_token_type", p.requested_token_type);
            http::form_append(b, "subject_token", p.subject_token);
            http::form_append(b, "subject_token_type", p.subject_token_type);
            append_if(b, "actor_token", p.actor_token);
            append_if(b, "actor_token_type", p.actor_token_type);
            return detail::append_extra(b, p.extra);
        }
        std::error_code operator()(const jwt_bearer_grant& p) const {
            if (p.assertion.empty())
                return errc::invalid_request;
            http::form_append(b, "assertion", p.assertion);
            append_if(b, "scope", p.scope);
            return detail::append_extra(b, p.extra);
        }
    };
    return std::visit(visitor{body}, g);
}

// ---- RFC 8628 device authorization ----

/// A device authorization response (RFC 8628 3.2).
struct device_authorization {
    std::string device_code; ///< secret
    std::string user_code;
    std::string verification_uri;
    std::string verification_uri_complete; ///< empty when not sent
    std::chrono::seconds expires_in{0};
    std::chrono::seconds interval{5}; ///< 5 s when the server sends none (3.2)
    clock::time_point expires_at{};   ///< received_at + expires_in
};

/// Reads a device authorization response; an error response becomes its OAuth code with
/// `diag` filled. Errors: the OAuth codes, http_status_unexpected, token_response_invalid
/// (missing device_code / user_code / verification_uri / expires_in), JSON errors.
inline std::error_code parse_device_authorization(std::string_view body, int status,
                                                  clock::time_point now, device_authorization& out,
                                                  diagnostics& diag) {
    diag.clear();
    if (status != 200)
        return detail::read_oauth_error(body, status, diag);
    diag.http_status = status;
    detail::json::value v;
    if (auto ec = detail::json::parse_object(body, v))
        return ec;
    device_authorization d;
    const auto* dc = v.find_string("device_code");
    const auto* uc = v.find_string("user_code");
    const auto* vu = v.find_string("verification_uri");
    if (!vu)
        vu = v.find_string("verification_url"); // Google's spelling
    const auto* ei = v.find("expires_in");
    std::int64_t secs = 0;
    if (!dc || dc->empty() || !uc || uc->empty() || !vu || vu->empty() || !ei ||
        !detail::read_seconds(*ei, secs) || secs == 0)
        return errc::token_response_invalid;
    d.device_code = *dc;
    d.user_code = *uc;
    d.verification_uri = *vu;
    if (const auto* c = v.find_string("verification_uri_complete"))
        d.verification_uri_complete = *c;
    d.expires_in = std::chrono::seconds(secs);
    d.expires_at = now + d.expires_in;
    if (const auto* iv = v.find("interval"); iv && !iv->is_null()) {
        std::int64_t i = 0;
        if (!detail::read_seconds(*iv, i))
            return errc::token_response_invalid;
        d.interval = std::chrono::seconds(i < 1 ? 1 : i);
    }
    out = std::move(d);
    diag.clear();
    return {};
}

/// What a device-flow poller does after one token request (RFC 8628 3.5).
enum class device_poll_action {
    done,  ///< tokens received
    retry, ///< wait `interval`, then poll again
    fail   ///< stop with `error`
};

struct device_poll_decision {
    device_poll_action action = device_poll_action::fail;
    std::chrono::seconds interval{5}; ///< the interval to use from now on
    std::error_code error;            ///< for fail
};

/// The pure polling decision: `result` is the outcome of the last token request, `interval`
/// the current polling interval, `now` and `expires_at` the device code's lifetime.
/// authorization_pending: retry at the same interval; slow_down: retry with the interval
/// increased by 5 s (3.5); expired_token, or no time left for another poll:
/// fail with device_flow_expired; access_denied and every other error: fail with it.
inline device_poll_decision decide_device_poll(std::error_code result,
                                               std::chrono::seconds interval, clock::time_point now,
                                               clock::time_point expires_at) {
    device_poll_decision d;
    d.interval = interval;
    if (!result) {
        d.action = device_poll_action::done;
        return d;
    }
    if (result == errc::slow_down)
        d.interval = interval + std::chrono::seconds(5);
    if (result == errc::authorization_pending || result == errc::slow_down) {
        if (now + d.interval >= expires_at) {
            d.error = errc::device_flow_expired;
            return d;
        }
        d.action = device_poll_action::retry;
        return d;
    }
    d.error = result == errc::expired_token ? std::error_code(errc::device_flow_expired) : result;
    return d;
}

} // namespace oidc
