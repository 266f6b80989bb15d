// asio-oidc: JWS algorithm identifiers (RFC 7518 section 3, RFC 8037 section 3.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace oidc::jose {

/// The JWS "alg" values this library knows. `none` is only named to be refused.
enum class alg : std::uint8_t {
    none,
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA
};

inline constexpr std::size_t alg_count = 14;

/// The algorithm named `s` (exact, case-sensitive), or nullopt.
inline std::optional<alg> alg_from_string(std::string_view s) noexcept {
    constexpr std::string_view names[alg_count] = {"none",  "HS256", "HS384", "HS512", "RS256",
                                                   "RS384", "RS512", "PS256", "PS384", "PS512",
                                                   "ES256", "ES384", "ES512", "EdDSA"};
    for (std::size_t i = 0; i < alg_count; ++i)
        if (names[i] == s)
            return static_cast<alg>(i);
    return std::nullopt;
}

/// The registered name ("RS256").
inline std::string_view to_string(alg a) noexcept {
    switch (a) {
    case alg::none:
        return "none";
    case alg::HS256:
        return "HS256";
    case alg::HS384:
        return "HS384";
    case alg::HS512:
        return "HS512";
    case alg::RS256:
        return "RS256";
    case alg::RS384:
        return "RS384";
    case alg::RS512:
        return "RS512";
    case alg::PS256:
        return "PS256";
    case alg::PS384:
        return "PS384";
    case alg::PS512:
        return "PS512";
    case alg::ES256:
        return "ES256";
    case alg::ES384:
        return "ES384";
    case alg::ES512:
        return "ES512";
    case alg::EdDSA:
        return "EdDSA";
    }
    return "unknown";
}

/// Algorithm families.
inline bool is_hmac(alg a) noexcept {
    return a == alg::HS256 || a == alg::HS384 || a == alg::HS512;
}
inline bool is_rsa(alg a) noexcept {
    return a >= alg::RS256 && a <= alg::PS512;
}
inline bool is_ecdsa(alg a) noexcept {
    return a == alg::ES256 || a == alg::ES384 || a == alg::ES512;
}

} // namespace oidc::jose
