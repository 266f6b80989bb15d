// asio-oidc: base64url (RFC 4648 section 5) without padding, strict decoding (RFC 7515 section 2).
#pragma once

#include <oidc/error.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace oidc::jose {

namespace detail {
inline constexpr char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct b64url_table {
    std::int8_t v[256];
    constexpr b64url_table() : v() {
        for (auto& x : v)
            x = -1;
        for (int i = 0; i < 64; ++i)
            v[static_cast<unsigned char>(b64url_alphabet[i])] = static_cast<std::int8_t>(i);
    }
};
inline constexpr b64url_table b64url_decode_table{};

// Four 256-entry tables that place each character's 6 bits directly at their position in a
// little-endian 3-byte group (the modp_b64 technique): a group decodes with 4 loads and 3 ORs.
// Any invalid character sets bit 24.
struct b64url_group_tables {
    std::uint32_t d[4][256];
    constexpr b64url_group_tables() : d() {
        const b64url_table base;
        for (int c = 0; c < 256; ++c) {
            const int v = base.v[c];
            if (v < 0) {
                for (auto& t : d)
                    t[c] = 0x01ffffff;
                continue;
            }
            const auto u = static_cast<std::uint32_t>(v);
            d[0][c] = u << 2;
            d[1][c] = (u >> 4) | ((u & 15) << 12);
            d[2][c] = ((u >> 2) << 8) | ((u & 3) << 22);
            d[3][c] = u << 16;
        }
    }
};
inline constexpr b64url_group_tables b64url_groups{};
} // namespace detail

/// The encoded length of `n` bytes (no padding).
constexpr std::size_t base64url_encoded_size(std::size_t n) noexcept {
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/// Appends the base64url encoding of `bytes` to `out`, without padding.
inline void base64url_encode(std::string_view bytes, std::string& out) {
    const std::size_t start = out.size();
    out.resize(start + base64url_encoded_size(bytes.size()));
    char* o = out.data() + start;
    const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size(), i = 0;
    const char* a = detail::b64url_alphabet;
    for (; i + 3 <= n; i += 3) {
        std::uint32_t t =
            (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
        *o++ = a[t >> 18];
        *o++ = a[(t >> 12) & 63];
        *o++ = a[(t >> 6) & 63];
        *o++ = a[t & 63];
    }
    if (n - i == 1) {
        std::uint32_t t = std::uint32_t{in[i]} << 16;
        *o++ = a[t >> 18];
        *o++ = a[(t >> 12) & 63];
    } else if (n - i == 2) {
        std::uint32_t t = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
        *o++ = a[t >> 18];
        *o++ = a[(t >> 12) & 63];
        *o++ = a[(t >> 6) & 63];
    }
}

/// The base64url encoding of `bytes`, without padding.
inline std::string base64url_encode(std::string_view bytes) {
    std::string s;
    base64url_encode(bytes, s);
    return s;
}

/// Decodes strict base64url into `out` (replaced). Rejected with errc::base64url_invalid:
/// padding '=', '+' or '/', whitespace or any other byte outside the alphabet, a length
/// that is 1 modulo 4, and non-zero unused trailing bits (non-canonical encodings).
/// On error `out` holds unspecified bytes.
inline std::error_code base64url_decode(std::string_view in, std::string& out) {
    const std::size_t n = in.size();
    if (n % 4 == 1)
        return errc::base64url_invalid;
    const std::size_t out_size = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const auto& t = detail::b64url_decode_table.v;
    std::size_t i = 0;
    int bad = 0;
    char* o = nullptr;
    if constexpr (std::endian::native == std::endian::little) {
        // One spare byte: each group stores 4 bytes and advances 3.
        out.resize(out_size + 1);
        o = out.data();
        const auto& f = detail::b64url_groups.d;
        std::uint32_t acc = 0;
        for (; i + 4 <= n; i += 4) {
            const std::uint32_t x = f[0][p[i]] | f[1][p[i + 1]] | f[2][p[i + 2]] | f[3][p[i + 3]];
            acc |= x;
            std::memcpy(o, &x, 4);
            o += 3;
        }
        out.resize(out_size);
        if (acc >= 0x01000000)
            return errc::base64url_invalid;
    } else {
        out.resize(out_size);
        o = out.data();
        for (; i + 4 <= n; i += 4) {
            int a = t[p[i]], b = t[p[i + 1]], c = t[p[i + 2]], d = t[p[i + 3]];
            bad |= a | b | c | d;
            std::uint32_t v = (std::uint32_t(a) << 18) | (std::uint32_t(b) << 12) |
                              (std::uint32_t(c) << 6) | std::uint32_t(d);
            *o++ = static_cast<char>(v >> 16);
            *o++ = static_cast<char>(v >> 8);
            *o++ = static_cast<char>(v);
        }
    }
    if (bad < 0)
        return errc::base64url_invalid;
    const std::size_t rest = n - i;
    if (rest == 2) {
        int a = t[p[i]], b = t[p[i + 1]];
        if ((a | b) < 0 || (b & 15) != 0)
            return errc::base64url_invalid;
        *o++ = static_cast<char>((a << 2) | (b >> 4));
    } else if (rest == 3) {
        int a = t[p[i]], b = t[p[i + 1]], c = t[p[i + 2]];
        if ((a | b | c) < 0 || (c & 3) != 0)
            return errc::base64url_invalid;
        *o++ = static_cast<char>((a << 2) | (b >> 4));
        *o++ = static_cast<char>(((b & 15) << 4) | (c >> 2));
    }
    return {};
}

} // namespace oidc::jose
