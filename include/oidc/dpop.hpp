// asio-oidc: DPoP proofs (RFC 9449), without I/O. A proof is a JWT signed with the client's
// own key pair, sent in the `DPoP` header of a token request (the provider then binds the
// tokens to the key: token_type "DPoP", `cnf.jkt` = the key's RFC 7638 thumbprint) and of
// every request that presents such an access token (then with `ath`, the token's hash).
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/detail/oauth_crypto.hpp>
#include <oidc/error.hpp>
#include <oidc/http/url.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/jwk.hpp>
#include <oidc/jose/jws.hpp>
#include <oidc/token.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace oidc {

/// The client's DPoP key pair and the algorithm of its proofs (RFC 9449 4.2: asymmetric
/// only; ES256 is what every provider takes). Keep the same key for the life of the tokens:
/// they are bound to it, refresh tokens of public clients included (RFC 9449 5).
struct dpop_key {
    jose::jwk key; ///< with its private part (jose::jwk::from_native, jwk::parse)
    jose::alg algorithm = jose::alg::ES256;
};

/// The `htu` of a request to `u` (RFC 9449 4.2): the URL without its query and fragment,
/// scheme and host lower-cased, the default port left out.
inline std::string dpop_htu(const http::url& u) {
    std::string htu = u.scheme;
    htu += "://";
    htu += u.host_header();
    htu += u.path.empty() ? std::string_view("/") : std::string_view(u.path);
    return htu;
}

/// Signs a DPoP proof for one request (RFC 9449 4.2): header {"typ":"dpop+jwt", "alg", "jwk":
/// the public key}, claims {"jti": 128 random bits, "htm": `method`, "htu": dpop_htu(`u`),
/// "iat": `now`}, plus "ath" (base64url SHA-256 of `access_token`, RFC 9449 7.1) when one is
/// given and "nonce" when the server asked for one (RFC 9449 8, 9). Errors: alg_not_allowed
/// (an HMAC or none algorithm), key_unusable (no private key), those of jose::sign_compact.
inline std::error_code make_dpop_proof(const dpop_key& k, std::string_view method,
                                       const http::url& u, clock::time_point now,
                                       std::string_view access_token, std::string_view nonce,
                                       std::string& out) {
    namespace json = detail::json;
    if (k.algorithm == jose::alg::none || jose::is_hmac(k.algorithm))
        return errc::alg_not_allowed;
    if (!k.key.has_private())
        return errc::key_unusable;
    const std::string htu = dpop_htu(u);
    const auto iat =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    std::string claims = "{\"jti\":";
    json::append_escaped(claims, detail::random_token(16));
    claims += ",\"htm\":";
    json::append_escaped(claims, method);
    claims += ",\"htu\":";
    json::append_escaped(claims, htu);
    claims += ",\"iat\":";
    claims += std::to_string(static_cast<std::int64_t>(iat));
    if (!access_token.empty()) {
        claims += ",\"ath\":";
        json::append_escaped(claims, detail::base64url_nopad(detail::sha256(access_token)));
    }
    if (!nonce.empty()) {
        claims += ",\"nonce\":";
        json::append_escaped(claims, nonce);
    }
    claims += "}";
    return jose::sign_compact(k.algorithm, k.key, claims, out, "dpop+jwt",
                              "\"jwk\":" + k.key.public_json());
}

/// The same for a URL string. Errors: also those of parse_url.
inline std::error_code make_dpop_proof(const dpop_key& k, std::string_view method,
                                       std::string_view url, clock::time_point now,
                                       std::string_view access_token, std::string_view nonce,
                                       std::string& out) {
    http::url u;
    if (auto ec = http::parse_url(url, u))
        return ec;
    return make_dpop_proof(k, method, u, now, access_token, nonce, out);
}

} // namespace oidc
