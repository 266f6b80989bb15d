// asio-oidc: the browser side of the authorization code flow, without I/O: PKCE (RFC 7636),
// state and nonce, the authorization request URL (RFC 6749 4.1.1, OpenID Connect Core
// 3.1.2.1), the redirect callback (RFC 6749 4.1.2 / 4.1.2.1, RFC 9207 "iss") and the
// RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0 section 2).
#pragma once

#include <oidc/detail/oauth_crypto.hpp>
#include <oidc/error.hpp>
#include <oidc/grants.hpp>
#include <oidc/http/url.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace oidc {

/// A PKCE pair (RFC 7636 4.1-4.2), method S256.
struct pkce_pair {
    std::string verifier;  ///< secret: 43 base64url characters (32 random bytes)
    std::string challenge; ///< BASE64URL(SHA256(verifier))
};

/// The S256 code_challenge of a verifier.
inline std::string pkce_challenge(std::string_view verifier) {
    return detail::base64url_nopad(detail::sha256(verifier));
}

/// A fresh PKCE pair from the CSPRNG.
inline pkce_pair make_pkce() {
    pkce_pair p;
    p.verifier = detail::random_token(32);
    p.challenge = pkce_challenge(p.verifier);
    return p;
}

/// A fresh random state or nonce value (base64url, 32 random bytes).
inline std::string make_state() {
    return detail::random_token(32);
}

/// What the caller chooses for one authorization request.
struct authorization_params {
    std::string redirect_uri;     ///< required; must be registered at the provider
    std::string scope = "openid"; ///< "openid" makes it an OpenID Connect request
    std::string response_type = "code";
    std::string prompt;        ///< "login", "consent", "none", ... (empty: not sent)
    std::string login_hint;    ///< empty: not sent
    std::string response_mode; ///< empty: not sent (query)
    bool use_pkce = true;      ///< S256; keep it on (OAuth 2.0 Security BCP)
    /// Maximum authentication age (OpenID Connect Core 3.1.2.1): sent as `max_age`; the ID
    /// token then needs an `auth_time` no older than that (client::handle_callback checks it:
    /// errc::auth_time_missing, errc::auth_too_old). Empty: not sent.
    std::optional<std::chrono::seconds> max_age;
    params extra; ///< more query parameters (acr_values, ui_locales, ...)
};

/// The outcome of authorization_url(): the URL to send the browser to, and the values to
/// keep (server side, e.g. in the user's session) until the callback arrives.
struct authorization_request {
    std::string url;
    std::string state;
    std::string nonce;         ///< empty when scope lacks "openid"
    std::string code_verifier; ///< secret; empty without PKCE
    std::string redirect_uri;
    std::optional<std::chrono::seconds> max_age; ///< as requested (checked on the ID token)
    /// A pushed request (client::push_authorization(), RFC 9126): the provider's reference
    /// to it, which `url` carries, and when it stops being usable. Empty otherwise.
    std::string request_uri;
    std::optional<clock::time_point> request_uri_expires_at;
};

namespace detail {
inline bool has_scope_token(std::string_view scope, std::string_view token) noexcept {
    while (!scope.empty()) {
        auto sp = scope.find(' ');
        if (scope.substr(0, sp) == token)
            return true;
        scope = sp == std::string_view::npos ? std::string_view{} : scope.substr(sp + 1);
    }
    return false;
}

// Joins an endpoint URL (which may already have a query) with more query parameters.
inline std::string join_query(std::string_view endpoint, std::string_view query) {
    std::string out(endpoint);
    if (query.empty())
        return out;
    out += endpoint.find('?') == std::string_view::npos ? '?' : '&';
    out += query;
    return out;
}
} // namespace detail

namespace detail {
/// The parameters of an authorization request, form-encoded into `q`, and what to keep of
/// them in `r` (state, nonce, verifier, redirect_uri, max_age). See
/// build_authorization_request() for the errors.
/// A pushed request (`with_client_id` false) leaves client_id to the client authentication.
inline std::error_code authorization_parameters(std::string_view client_id,
                                                const authorization_params& p, std::string state,
                                                std::string nonce, std::string code_verifier,
                                                authorization_request& r, std::string& q,
                                                bool with_client_id = true) {
    if (client_id.empty() || p.redirect_uri.empty() || p.response_type.empty() || state.empty())
        return errc::invalid_request;
    http::form_append(q, "response_type", p.response_type);
    if (with_client_id)
        http::form_append(q, "client_id", client_id);
    http::form_append(q, "redirect_uri", p.redirect_uri);
    if (!p.scope.empty())
        http::form_append(q, "scope", p.scope);
    http::form_append(q, "state", state);
    if (detail::has_scope_token(p.scope, "openid") && !nonce.empty()) {
        http::form_append(q, "nonce", nonce);
        r.nonce = std::move(nonce);
    }
    if (p.use_pkce) {
        if (code_verifier.size() < 43 || code_verifier.size() > 128)
            return errc::invalid_request; // RFC 7636 4.1
        http::form_append(q, "code_challenge", pkce_challenge(code_verifier));
        http::form_append(q, "code_challenge_method", "S256");
        r.code_verifier = std::move(code_verifier);
    }
    if (!p.prompt.empty())
        http::form_append(q, "prompt", p.prompt);
    if (!p.login_hint.empty())
        http::form_append(q, "login_hint", p.login_hint);
    if (!p.response_mode.empty())
        http::form_append(q, "response_mode", p.response_mode);
    if (p.max_age) {
        if (p.max_age->count() < 0)
            return errc::invalid_request;
        http::form_append(q, "max_age", std::to_string(p.max_age->count()));
        r.max_age = p.max_age;
    }
    for (const auto& [name, value] : p.extra) {
        constexpr std::string_view own[] = {
            "response_type", "client_id",  "redirect_uri",   "scope",
            "state",         "nonce",      "code_challenge", "code_challenge_method",
            "prompt",        "login_hint", "response_mode",  "max_age",
            "request_uri"};
        for (auto o : own)
            if (o == name)
                return errc::invalid_request;
        if (name.empty())
            return errc::invalid_request;
        http::form_append(q, name, value);
    }
    r.state = std::move(state);
    r.redirect_uri = p.redirect_uri;
    return {};
}
} // namespace detail

/// Builds the authorization request with the given state, nonce and PKCE verifier (pure:
/// client::authorization_url() passes fresh random ones). Errors: url_invalid (endpoint not
/// an http(s) URL), invalid_request (empty client_id or redirect_uri, a negative max_age, or
/// `extra` naming a parameter set here).
inline std::error_code build_authorization_request(std::string_view endpoint,
                                                   std::string_view client_id,
                                                   const authorization_params& p, std::string state,
                                                   std::string nonce, std::string code_verifier,
                                                   authorization_request& out) {
    http::url u;
    if (auto ec = http::parse_url(endpoint, u))
        return ec;
    authorization_request r;
    std::string q;
    if (auto ec = detail::authorization_parameters(client_id, p, std::move(state), std::move(nonce),
                                                   std::move(code_verifier), r, q))
        return ec;
    r.url = detail::join_query(endpoint, q);
    out = std::move(r);
    return {};
}

/// The authorization URL of a pushed request (RFC 9126 4): `client_id` and `request_uri`
/// only. Errors: url_invalid (endpoint), invalid_request (an empty client_id or
/// request_uri).
inline std::error_code build_pushed_authorization_url(std::string_view endpoint,
                                                      std::string_view client_id,
                                                      std::string_view request_uri,
                                                      std::string& out) {
    http::url u;
    if (auto ec = http::parse_url(endpoint, u))
        return ec;
    if (client_id.empty() || request_uri.empty())
        return errc::invalid_request;
    std::string q;
    http::form_append(q, "client_id", client_id);
    http::form_append(q, "request_uri", request_uri);
    out = detail::join_query(endpoint, q);
    return {};
}

/// Reads the pushed authorization response (RFC 9126 2.2-2.3): `request_uri` (a non-empty
/// string) and `expires_in` (positive seconds) from a 201 (or 200) answer; an error
/// response becomes its OAuth code with `diag` filled. Errors: token_response_invalid (a
/// member missing or malformed), json_*, the OAuth codes.
inline std::error_code parse_pushed_authorization_response(std::string_view body, int status,
                                                           clock::time_point now,
                                                           std::string& request_uri,
                                                           clock::time_point& expires_at,
                                                           diagnostics& diag) {
    diag.clear();
    if (status != 201 && status != 200)
        return detail::read_oauth_error(body, status, diag);
    diag.http_status = status;
    detail::json::value v;
    if (auto ec = detail::json::parse_object(body, v))
        return ec;
    const auto* uri = v.find_string("request_uri");
    const auto* ei = v.find("expires_in");
    std::int64_t secs = 0;
    if (!uri || uri->empty() || !ei || !detail::read_seconds(*ei, secs) || secs <= 0)
        return errc::token_response_invalid;
    request_uri = *uri;
    expires_at = now + std::chrono::seconds(secs);
    diag.clear();
    return {};
}

/// What the redirect back to the client carried.
struct callback_result {
    std::string code; ///< secret
    std::string state;
    std::string iss; ///< RFC 9207 issuer identification, when sent
};

/// Reads the redirect URL (or just its query, "?code=..&state=..") the browser came back
/// with. The state must equal `expected_state` exactly, checked first, also for error
/// responses (a forged error must not pass). An "error" response becomes its OAuth code with
/// `diag` filled (untrusted). When `expected_issuer` is non-empty and the response carries
/// "iss" (RFC 9207), it must match. Errors: state_mismatch, url_invalid (malformed query,
/// or a parameter repeated), the OAuth codes (access_denied, login_required, ...),
/// invalid_request (no code), issuer_mismatch.
inline std::error_code parse_callback(std::string_view callback_url,
                                      std::string_view expected_state,
                                      std::string_view expected_issuer, callback_result& out,
                                      diagnostics& diag) {
    diag.clear();
    std::string_view query = callback_url;
    if (auto qm = query.find('?'); qm != std::string_view::npos)
        query = query.substr(qm + 1);
    else if (query.find("://") != std::string_view::npos)
        query = {};
    if (auto hash = query.find('#'); hash != std::string_view::npos)
        query = query.substr(0, hash);
    std::error_code ec;
    auto pairs = http::parse_query(query, ec);
    if (ec)
        return ec;
    callback_result r;
    std::string error, description, uri;
    bool seen_state = false;
    for (auto& [name, value] : pairs) {
        std::string* dst = nullptr;
        if (name == "code")
            dst = &r.code;
        else if (name == "state")
            dst = &r.state, seen_state = true;
        else if (name == "iss")
            dst = &r.iss;
        else if (name == "error")
            dst = &error;
        else if (name == "error_description")
            dst = &description;
        else if (name == "error_uri")
            dst = &uri;
        if (!dst)
            continue;
        if (!dst->empty())
            return errc::url_invalid; // repeated parameter (RFC 6749 3.1)
        *dst = std::move(value);
    }
    if (!seen_state || expected_state.empty() || r.state != expected_state)
        return errc::state_mismatch;
    if (!expected_issuer.empty() && !r.iss.empty() && r.iss != expected_issuer)
        return errc::issuer_mismatch;
    if (!error.empty()) {
        diag.error = detail::untrusted_text(error, 128);
        diag.error_description = detail::untrusted_text(description);
        diag.error_uri = detail::untrusted_text(uri);
        return oauth_error_code(error);
    }
    if (r.code.empty())
        return errc::invalid_request;
    out = std::move(r);
    return {};
}

/// The RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0 section 2): the
/// end_session_endpoint with id_token_hint, post_logout_redirect_uri, state and client_id
/// (each only when non-empty).
inline std::string build_end_session_url(std::string_view end_session_endpoint,
                                         std::string_view id_token_hint,
                                         std::string_view post_logout_redirect_uri,
                                         std::string_view state, std::string_view client_id) {
    std::string q;
    detail::append_if(q, "id_token_hint", id_token_hint);
    detail::append_if(q, "post_logout_redirect_uri", post_logout_redirect_uri);
    detail::append_if(q, "state", state);
    detail::append_if(q, "client_id", client_id);
    return detail::join_query(end_session_endpoint, q);
}

} // namespace oidc
