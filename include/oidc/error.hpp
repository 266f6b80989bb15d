// asio-oidc: error codes, the "oidc" category, and the OAuth error diagnostics.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace oidc {

/// Every failure the library reports. The category name is "oidc". Messages never
/// contain a token, a password or a secret.
enum class errc {
    // --- input encodings and JSON ---
    base64url_invalid = 1,    ///< not strict base64url (padding, '+', '/', non-canonical bits)
    json_invalid,             ///< not JSON, trailing bytes, invalid UTF-8, or nested too deep
    json_duplicate_member,    ///< the same member name twice in one object
    json_number_out_of_range, ///< a number that does not fit the expected type
    json_wrong_type,          ///< a member of the wrong JSON type
    input_too_large,          ///< a token, key or document larger than the configured bound

    // --- JWK / JWK Set ---
    jwk_invalid = 100,      ///< a JWK member is missing or malformed
    jwk_unsupported,        ///< unknown kty or crv
    jwk_key_too_small,      ///< RSA modulus below 2048 bits, or an empty oct key
    jwk_point_not_on_curve, ///< EC / OKP public point invalid
    jwk_set_invalid,        ///< no "keys" array

    // --- JWS ---
    jws_malformed = 200, ///< not three base64url parts, or a bad protected header
    alg_none,            ///< "none" is never accepted
    alg_not_allowed,     ///< alg not in the caller's allowlist
    alg_key_mismatch,    ///< alg not usable with the selected key (HS with RSA, ...)
    alg_unsupported,     ///< an algorithm this library does not implement
    crit_unsupported,    ///< a "crit" header names an extension not understood
    b64_unsupported,     ///< RFC 7797 unencoded payloads are refused
    key_not_found,       ///< no key matches kid / kty / alg / use
    signature_invalid,   ///< the signature does not verify
    key_unusable,        ///< the key cannot be used for this operation (public-only for sign ...)
    crypto_failure,      ///< an OpenSSL call failed unexpectedly

    // --- JWT claims ---
    claim_missing = 300, ///< a required claim is absent
    claim_invalid,       ///< a claim has the wrong type or form
    issuer_mismatch,
    audience_mismatch,
    azp_mismatch,
    token_expired,
    token_not_yet_valid,
    token_issued_in_future,
    nonce_mismatch,
    at_hash_mismatch,
    c_hash_mismatch,
    typ_mismatch,
    subject_mismatch,
    auth_time_missing, ///< auth_time absent or not an integer while max_age / require_auth_time
    auth_too_old,      ///< auth_time + max_age passed: the user must authenticate again

    // --- HTTP ---
    url_invalid = 400,
    insecure_scheme, ///< http:// without the caller's permission
    http_status_line_invalid,
    http_header_invalid,
    http_headers_too_large,
    http_body_too_large,
    http_content_length_invalid,
    http_chunk_invalid,
    http_truncated, ///< the peer closed before the message ended
    http_version_unsupported,
    timed_out,
    proxy_connect_failed,
    too_many_redirects,
    http_status_unexpected,    ///< a status the operation does not accept (diagnostics hold it)
    tls_host_name_mismatch,    ///< the server certificate does not name the requested host
    tls_certificate_expired,   ///< the server certificate is expired or not yet valid
    tls_certificate_untrusted, ///< self-signed, or no chain to a trusted CA
    tls_certificate_invalid,   ///< any other certificate verification failure

    // --- OAuth 2.0 / OpenID Connect responses (RFC 6749 5.2, RFC 8628 3.5, RFC 6750 3.1) ---
    invalid_request = 500,
    invalid_client,
    invalid_grant,
    unauthorized_client,
    unsupported_grant_type,
    invalid_scope,
    access_denied,
    unsupported_response_type,
    server_error,
    temporarily_unavailable,
    authorization_pending,
    slow_down,
    expired_token,
    invalid_token,
    insufficient_scope,
    interaction_required,
    login_required,
    consent_required,
    unsupported_token_type, ///< RFC 7009 2.2.1 (revocation / introspection)
    oauth_error_other,      ///< an "error" value not listed above (see diagnostics)

    // --- protocol checks ---
    issuer_metadata_mismatch = 600, ///< discovery "issuer" differs from the requested one
    endpoint_not_supported,         ///< the provider does not advertise the endpoint
    state_mismatch,
    token_response_invalid,
    reauthentication_required, ///< the grant needs a person again (authorization code, device)
    device_flow_expired,
    pushed_authorization_required, ///< the provider takes pushed requests only (RFC 9126 5)
};

namespace detail {
inline std::string_view errc_name(errc e) noexcept {
    switch (e) {
#define OIDC_ERRC_NAME(n)                                                                          \
    case errc::n:                                                                                  \
        return #n;
        OIDC_ERRC_NAME(base64url_invalid)
        OIDC_ERRC_NAME(json_invalid)
        OIDC_ERRC_NAME(json_duplicate_member)
        OIDC_ERRC_NAME(json_number_out_of_range)
        OIDC_ERRC_NAME(json_wrong_type)
        OIDC_ERRC_NAME(input_too_large)
        OIDC_ERRC_NAME(jwk_invalid)
        OIDC_ERRC_NAME(jwk_unsupported)
        OIDC_ERRC_NAME(jwk_key_too_small)
        OIDC_ERRC_NAME(jwk_point_not_on_curve)
        OIDC_ERRC_NAME(jwk_set_invalid)
        OIDC_ERRC_NAME(jws_malformed)
        OIDC_ERRC_NAME(alg_none)
        OIDC_ERRC_NAME(alg_not_allowed)
        OIDC_ERRC_NAME(alg_key_mismatch)
        OIDC_ERRC_NAME(alg_unsupported)
        OIDC_ERRC_NAME(crit_unsupported)
        OIDC_ERRC_NAME(b64_unsupported)
        OIDC_ERRC_NAME(key_not_found)
        OIDC_ERRC_NAME(signature_invalid)
        OIDC_ERRC_NAME(key_unusable)
        OIDC_ERRC_NAME(crypto_failure)
        OIDC_ERRC_NAME(claim_missing)
        OIDC_ERRC_NAME(claim_invalid)
        OIDC_ERRC_NAME(issuer_mismatch)
        OIDC_ERRC_NAME(audience_mismatch)
        OIDC_ERRC_NAME(azp_mismatch)
        OIDC_ERRC_NAME(token_expired)
        OIDC_ERRC_NAME(token_not_yet_valid)
        OIDC_ERRC_NAME(token_issued_in_future)
        OIDC_ERRC_NAME(nonce_mismatch)
        OIDC_ERRC_NAME(at_hash_mismatch)
        OIDC_ERRC_NAME(c_hash_mismatch)
        OIDC_ERRC_NAME(typ_mismatch)
        OIDC_ERRC_NAME(subject_mismatch)
        OIDC_ERRC_NAME(auth_time_missing)
        OIDC_ERRC_NAME(auth_too_old)
        OIDC_ERRC_NAME(url_invalid)
        OIDC_ERRC_NAME(insecure_scheme)
        OIDC_ERRC_NAME(http_status_line_invalid)
        OIDC_ERRC_NAME(http_header_invalid)
        OIDC_ERRC_NAME(http_headers_too_large)
        OIDC_ERRC_NAME(http_body_too_large)
        OIDC_ERRC_NAME(http_content_length_invalid)
        OIDC_ERRC_NAME(http_chunk_invalid)
        OIDC_ERRC_NAME(http_truncated)
        OIDC_ERRC_NAME(http_version_unsupported)
        OIDC_ERRC_NAME(timed_out)
        OIDC_ERRC_NAME(proxy_connect_failed)
        OIDC_ERRC_NAME(too_many_redirects)
        OIDC_ERRC_NAME(http_status_unexpected)
        OIDC_ERRC_NAME(tls_host_name_mismatch)
        OIDC_ERRC_NAME(tls_certificate_expired)
        OIDC_ERRC_NAME(tls_certificate_untrusted)
        OIDC_ERRC_NAME(tls_certificate_invalid)
        OIDC_ERRC_NAME(invalid_request)
        OIDC_ERRC_NAME(invalid_client)
        OIDC_ERRC_NAME(invalid_grant)
        OIDC_ERRC_NAME(unauthorized_client)
        OIDC_ERRC_NAME(unsupported_grant_type)
        OIDC_ERRC_NAME(invalid_scope)
        OIDC_ERRC_NAME(access_denied)
        OIDC_ERRC_NAME(unsupported_response_type)
        OIDC_ERRC_NAME(server_error)
        OIDC_ERRC_NAME(temporarily_unavailable)
        OIDC_ERRC_NAME(authorization_pending)
        OIDC_ERRC_NAME(slow_down)
        OIDC_ERRC_NAME(expired_token)
        OIDC_ERRC_NAME(invalid_token)
        OIDC_ERRC_NAME(insufficient_scope)
        OIDC_ERRC_NAME(interaction_required)
        OIDC_ERRC_NAME(login_required)
        OIDC_ERRC_NAME(consent_required)
        OIDC_ERRC_NAME(unsupported_token_type)
        OIDC_ERRC_NAME(oauth_error_other)
        OIDC_ERRC_NAME(issuer_metadata_mismatch)
        OIDC_ERRC_NAME(endpoint_not_supported)
        OIDC_ERRC_NAME(state_mismatch)
        OIDC_ERRC_NAME(token_response_invalid)
        OIDC_ERRC_NAME(reauthentication_required)
        OIDC_ERRC_NAME(device_flow_expired)
        OIDC_ERRC_NAME(pushed_authorization_required)
#undef OIDC_ERRC_NAME
    }
    return "unknown";
}

inline const char* errc_message(errc e) noexcept {
    switch (e) {
    case errc::base64url_invalid:
        return "invalid base64url encoding";
    case errc::json_invalid:
        return "invalid JSON document";
    case errc::json_duplicate_member:
        return "duplicate member name in JSON object";
    case errc::json_number_out_of_range:
        return "JSON number out of range";
    case errc::json_wrong_type:
        return "JSON member has the wrong type";
    case errc::input_too_large:
        return "input larger than the configured limit";
    case errc::jwk_invalid:
        return "invalid JSON Web Key";
    case errc::jwk_unsupported:
        return "unsupported key type or curve";
    case errc::jwk_key_too_small:
        return "key too small";
    case errc::jwk_point_not_on_curve:
        return "public key point is not on the curve";
    case errc::jwk_set_invalid:
        return "invalid JSON Web Key Set";
    case errc::jws_malformed:
        return "malformed JWS compact serialization";
    case errc::alg_none:
        return "unsecured JWS (alg none) refused";
    case errc::alg_not_allowed:
        return "signature algorithm not allowed";
    case errc::alg_key_mismatch:
        return "signature algorithm not usable with this key";
    case errc::alg_unsupported:
        return "unsupported signature algorithm";
    case errc::crit_unsupported:
        return "unsupported critical header parameter";
    case errc::b64_unsupported:
        return "unencoded payload (b64 false) refused";
    case errc::key_not_found:
        return "no matching key";
    case errc::signature_invalid:
        return "signature verification failed";
    case errc::key_unusable:
        return "key cannot be used for this operation";
    case errc::crypto_failure:
        return "cryptographic library failure";
    case errc::claim_missing:
        return "required claim missing";
    case errc::claim_invalid:
        return "claim has an invalid value";
    case errc::issuer_mismatch:
        return "issuer does not match";
    case errc::audience_mismatch:
        return "audience does not match";
    case errc::azp_mismatch:
        return "authorized party does not match";
    case errc::token_expired:
        return "token expired";
    case errc::token_not_yet_valid:
        return "token not yet valid";
    case errc::token_issued_in_future:
        return "token issued in the future";
    case errc::nonce_mismatch:
        return "nonce does not match";
    case errc::at_hash_mismatch:
        return "at_hash does not match the access token";
    case errc::c_hash_mismatch:
        return "c_hash does not match the authorization code";
    case errc::typ_mismatch:
        return "token type header does not match";
    case errc::subject_mismatch:
        return "subject does not match";
    case errc::auth_time_missing:
        return "auth_time missing or not an integer";
    case errc::auth_too_old:
        return "authentication older than max_age: re-authentication required";
    case errc::url_invalid:
        return "invalid URL";
    case errc::insecure_scheme:
        return "plain http refused";
    case errc::http_status_line_invalid:
        return "invalid HTTP status line";
    case errc::http_header_invalid:
        return "invalid HTTP header";
    case errc::http_headers_too_large:
        return "HTTP headers exceed the size limit";
    case errc::http_body_too_large:
        return "HTTP body exceeds the size limit";
    case errc::http_content_length_invalid:
        return "invalid Content-Length";
    case errc::http_chunk_invalid:
        return "invalid chunked encoding";
    case errc::http_truncated:
        return "connection closed before the HTTP message ended";
    case errc::http_version_unsupported:
        return "unsupported HTTP version";
    case errc::timed_out:
        return "operation timed out";
    case errc::proxy_connect_failed:
        return "proxy CONNECT failed";
    case errc::too_many_redirects:
        return "too many redirects";
    case errc::http_status_unexpected:
        return "unexpected HTTP status";
    case errc::tls_host_name_mismatch:
        return "TLS certificate does not match the host name";
    case errc::tls_certificate_expired:
        return "TLS certificate expired or not yet valid";
    case errc::tls_certificate_untrusted:
        return "TLS certificate not trusted (self-signed or unknown issuer)";
    case errc::tls_certificate_invalid:
        return "TLS certificate verification failed";
    case errc::invalid_request:
        return "OAuth error: invalid_request";
    case errc::invalid_client:
        return "OAuth error: invalid_client";
    case errc::invalid_grant:
        return "OAuth error: invalid_grant";
    case errc::unauthorized_client:
        return "OAuth error: unauthorized_client";
    case errc::unsupported_grant_type:
        return "OAuth error: unsupported_grant_type";
    case errc::invalid_scope:
        return "OAuth error: invalid_scope";
    case errc::access_denied:
        return "OAuth error: access_denied";
    case errc::unsupported_response_type:
        return "OAuth error: unsupported_response_type";
    case errc::server_error:
        return "OAuth error: server_error";
    case errc::temporarily_unavailable:
        return "OAuth error: temporarily_unavailable";
    case errc::authorization_pending:
        return "OAuth error: authorization_pending";
    case errc::slow_down:
        return "OAuth error: slow_down";
    case errc::expired_token:
        return "OAuth error: expired_token";
    case errc::invalid_token:
        return "OAuth error: invalid_token";
    case errc::insufficient_scope:
        return "OAuth error: insufficient_scope";
    case errc::interaction_required:
        return "OpenID error: interaction_required";
    case errc::login_required:
        return "OpenID error: login_required";
    case errc::consent_required:
        return "OpenID error: consent_required";
    case errc::unsupported_token_type:
        return "OAuth error: unsupported_token_type";
    case errc::oauth_error_other:
        return "OAuth error (see diagnostics)";
    case errc::issuer_metadata_mismatch:
        return "provider metadata issuer differs from the requested issuer";
    case errc::endpoint_not_supported:
        return "the provider does not advertise this endpoint";
    case errc::state_mismatch:
        return "state does not match";
    case errc::token_response_invalid:
        return "invalid token response";
    case errc::reauthentication_required:
        return "the grant needs the user to authenticate again";
    case errc::device_flow_expired:
        return "device authorization expired";
    case errc::pushed_authorization_required:
        return "the provider requires pushed authorization requests";
    }
    return "unknown oidc error";
}
} // namespace detail

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "oidc"; }
    std::string message(int ev) const override {
        return detail::errc_message(static_cast<errc>(ev));
    }
};

/// The "oidc" error category.
inline const std::error_category& oidc_category() noexcept {
    static const error_category_impl cat;
    return cat;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), oidc_category()};
}

/// The enumerator name of an oidc error ("token_expired"), or "" for other categories.
inline std::string_view error_name(const std::error_code& ec) noexcept {
    if (ec.category() != oidc_category())
        return {};
    return detail::errc_name(static_cast<errc>(ec.value()));
}

/// What an OAuth 2.0 error response said (RFC 6749 5.2). The server's texts are
/// untrusted: show them to an operator, never act on them or echo them to end users.
struct diagnostics {
    std::string error;             ///< "error" as received (untrusted)
    std::string error_description; ///< untrusted
    std::string error_uri;         ///< untrusted
    int http_status = 0;           ///< 0 when no HTTP response was involved
    void clear() { *this = diagnostics{}; }
    bool empty() const noexcept { return error.empty() && http_status == 0; }
};

/// The throwing flavour of an error code plus diagnostics (thrown with use_awaitable).
class oauth_error : public std::system_error {
public:
    oauth_error(std::error_code ec, diagnostics diag)
        : std::system_error(ec, describe(ec, diag)), diag_(std::move(diag)) {}
    explicit oauth_error(std::error_code ec) : std::system_error(ec), diag_() {}
    const diagnostics& diag() const noexcept { return diag_; }

private:
    static std::string describe(const std::error_code& ec, const diagnostics& d) {
        std::string s = ec.message();
        if (d.http_status != 0)
            s += " (HTTP " + std::to_string(d.http_status) + ")";
        return s;
    }
    diagnostics diag_;
};

} // namespace oidc

template <>
struct std::is_error_code_enum<oidc::errc> : std::true_type {};
