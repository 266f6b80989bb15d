// asio-oidc (private): the small crypto helpers of the OAuth layer: CSPRNG tokens (state,
// nonce, PKCE verifier, jti), SHA-256 (PKCE S256) and standard base64 (HTTP Basic).
#pragma once

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace oidc::detail {

/// `n` bytes from OpenSSL's CSPRNG. Throws std::runtime_error if the generator fails
/// (never silently returns predictable bytes).
inline std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n != 0 &&
        RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("oidc: random number generator failure");
    return out;
}

/// SHA-256 digest bytes (32). Throws std::runtime_error on an OpenSSL failure.
inline std::string sha256(std::string_view data) {
    std::string out(32, '\0');
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                   EVP_sha256(), nullptr) != 1 ||
        len != 32)
        throw std::runtime_error("oidc: SHA-256 failure");
    return out;
}

/// base64 of `in` with the given 64-character alphabet, with or without '=' padding.
inline std::string base64_with(std::string_view in, const char* alphabet, bool pad) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        unsigned v = (unsigned{p[i]} << 16) | (unsigned{p[i + 1]} << 8) | p[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (std::size_t rest = in.size() - i; rest != 0) {
        unsigned v = unsigned{p[i]} << 16;
        if (rest == 2)
            v |= unsigned{p[i + 1]} << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (rest == 2)
            out += alphabet[(v >> 6) & 63];
        if (pad)
            out += rest == 2 ? "=" : "==";
    }
    return out;
}

/// Standard base64 with padding (RFC 4648 4), as HTTP Basic authentication uses.
inline std::string base64_encode(std::string_view in) {
    return base64_with(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                       true);
}

/// base64url without padding (RFC 4648 5, RFC 7515 2).
inline std::string base64url_nopad(std::string_view in) {
    return base64_with(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                       false);
}

/// A random base64url token carrying `bytes` bytes of entropy (32 bytes: 43 characters, a
/// valid RFC 7636 code_verifier).
inline std::string random_token(std::size_t bytes = 32) {
    return base64url_nopad(random_bytes(bytes));
}

} // namespace oidc::detail
