// asio-oidc: client authentication at the token, introspection, revocation and device
// authorization endpoints (RFC 6749 2.3, RFC 7523 2.2 / OpenID Connect Core 9, RFC 8705 2).
// No I/O: apply_client_auth() adds headers and form parameters to a request being built.
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/detail/oauth_crypto.hpp>
#include <oidc/error.hpp>
#include <oidc/http/message.hpp>
#include <oidc/http/url.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/jwk.hpp>
#include <oidc/jose/jws.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace oidc {

/// A public client (RFC 6749 2.1): only client_id in the form.
struct auth_none {};

/// HTTP Basic with client_id and secret, each form-encoded first (RFC 6749 2.3.1).
struct client_secret_basic {
    std::string secret; ///< never logged, never in an error text
};

/// client_id and client_secret in the form body (RFC 6749 2.3.1, "NOT RECOMMENDED" there but
/// common).
struct client_secret_post {
    std::string secret;
};

/// A signed JWT assertion (RFC 7523 2.2, OpenID Connect Core 9 "private_key_jwt"):
/// iss = sub = client_id, aud = the endpoint URL (or `audience`), a random jti, iat, and exp
/// `lifetime` after iat. Signed with `key` (which must hold a private key) and `algorithm`.
struct private_key_jwt {
    jose::jwk key; ///< private key; its kid (if any) goes into the JWS header
    jose::alg algorithm = jose::alg::RS256;
    std::chrono::seconds lifetime{60};
    /// The "aud" claim; empty: the URL of the endpoint the request goes to. Some providers
    /// want their issuer identifier instead.
    std::string audience;
};

/// Mutual TLS (RFC 8705 2): the client certificate is on the TLS context of
/// client_options::http (tls, or see make_tls_client_context in client.hpp); only
/// client_id goes into the form.
struct tls_client_auth {};

using client_auth = std::variant<auth_none, client_secret_basic, client_secret_post,
                                 private_key_jwt, tls_client_auth>;

/// The token_endpoint_auth_method name of a client_auth (OpenID Connect Registration 2).
inline std::string_view auth_method_name(const client_auth& a) noexcept {
    switch (a.index()) {
    case 0:
        return "none";
    case 1:
        return "client_secret_basic";
    case 2:
        return "client_secret_post";
    case 3:
        return "private_key_jwt";
    default:
        return "tls_client_auth";
    }
}

/// The Authorization header value for client_secret_basic: "Basic " + base64(
/// form_encode(id) ":" form_encode(secret)) (RFC 6749 2.3.1 - a secret such as "a+b/c=d %"
/// becomes "a%2Bb%2Fc%3Dd+%25" before base64).
inline std::string basic_authorization(std::string_view client_id, std::string_view secret) {
    std::string pair = http::form_encode(client_id);
    pair += ':';
    pair += http::form_encode(secret);
    return "Basic " + detail::base64_encode(pair);
}

inline constexpr std::string_view jwt_bearer_assertion_type =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Builds and signs a client assertion (RFC 7523 3): `out` receives the compact JWS.
/// Errors: key_unusable (no private key), alg_key_mismatch, crypto_failure, those of
/// jose::sign_compact.
inline std::error_code make_client_assertion(const private_key_jwt& a, std::string_view client_id,
                                             std::string_view audience,
                                             std::chrono::system_clock::time_point now,
                                             std::string& out) {
    using namespace detail::json;
    if (!a.key.has_private())
        return errc::key_unusable;
    const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    object claims;
    claims.push_back(member{"iss", value(client_id)});
    claims.push_back(member{"sub", value(client_id)});
    claims.push_back(member{"aud", value(a.audience.empty() ? audience : a.audience)});
    claims.push_back(member{"jti", value(detail::random_token(24))});
    claims.push_back(member{"iat", value(static_cast<std::int64_t>(iat.count()))});
    claims.push_back(member{"exp", value(static_cast<std::int64_t>((iat + a.lifetime).count()))});
    return jose::sign_compact(a.algorithm, a.key, dump(value(std::move(claims))), out);
}

/// Adds client authentication to a request being built: an Authorization header
/// (client_secret_basic) or form members (client_id, client_secret, client_assertion,
/// client_assertion_type). `endpoint` is the request URL (the assertion's default audience).
/// Errors: invalid_client for an empty client_id; those of make_client_assertion.
inline std::error_code apply_client_auth(const client_auth& auth, std::string_view client_id,
                                         std::string_view endpoint,
                                         std::chrono::system_clock::time_point now,
                                         http::fields& headers, std::string& form) {
    if (client_id.empty())
        return errc::invalid_client;
    if (const auto* b = std::get_if<client_secret_basic>(&auth)) {
        headers.set("Authorization", basic_authorization(client_id, b->secret));
        return {};
    }
    http::form_append(form, "client_id", client_id);
    if (const auto* p = std::get_if<client_secret_post>(&auth)) {
        http::form_append(form, "client_secret", p->secret);
    } else if (const auto* j = std::get_if<private_key_jwt>(&auth)) {
        std::string assertion;
        if (auto ec = make_client_assertion(*j, client_id, endpoint, now, assertion))
            return ec;
        http::form_append(form, "client_assertion_type", jwt_bearer_assertion_type);
        http::form_append(form, "client_assertion", assertion);
    }
    return {};
}

} // namespace oidc
