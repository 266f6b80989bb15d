// asio-oidc: base64url (RFC 4648 section 5) without padding, strict decoding (RFC 7515 section 2).
#pragma once

#include <oidc/error.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define OIDC_B64URL_AVX2 1
#else
#define OIDC_B64URL_AVX2 0
#endif

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

/// The decoded size of `n` base64url characters (for a length that is not 1 modulo 4).
constexpr std::size_t base64url_decoded_size(std::size_t n) noexcept {
    return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

namespace detail {

/// Scalar strict decoding of groups of four characters from `p` (n % 4 == 1 excluded), writing
/// base64url_decoded_size(n) bytes at `o`, which must have one more writable byte (each group
/// stores four bytes and advances three). False when a byte is outside the alphabet or the
/// unused trailing bits are not zero.
inline bool b64url_decode_scalar(const unsigned char* p, std::size_t n, char* o) noexcept {
    const auto& t = b64url_decode_table.v;
    std::size_t i = 0;
    int bad = 0;
    if constexpr (std::endian::native == std::endian::little) {
        const auto& f = b64url_groups.d;
        std::uint32_t acc = 0;
        for (; i + 4 <= n; i += 4) {
            const std::uint32_t x = f[0][p[i]] | f[1][p[i + 1]] | f[2][p[i + 2]] | f[3][p[i + 3]];
            acc |= x;
            std::memcpy(o, &x, 4);
            o += 3;
        }
        if (acc >= 0x01000000)
            return false;
    } else {
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
        return false;
    const std::size_t rest = n - i;
    if (rest == 2) {
        int a = t[p[i]], b = t[p[i + 1]];
        if ((a | b) < 0 || (b & 15) != 0)
            return false;
        *o = static_cast<char>((a << 2) | (b >> 4));
    } else if (rest == 3) {
        int a = t[p[i]], b = t[p[i + 1]], c = t[p[i + 2]];
        if ((a | b | c) < 0 || (c & 3) != 0)
            return false;
        o[0] = static_cast<char>((a << 2) | (b >> 4));
        o[1] = static_cast<char>(((b & 15) << 4) | (c >> 2));
    }
    return true;
}

#if OIDC_B64URL_AVX2
/// 32 characters -> 24 bytes per step with AVX2 (the nibble-table validation and translation
/// of Mula and Lemire, "Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018,
/// with tables for the URL alphabet); the remainder goes through b64url_decode_scalar. Same
/// contract and results as b64url_decode_scalar.
__attribute__((target("avx2"))) inline bool b64url_decode_avx2(const unsigned char* p,
                                                               std::size_t n, char* o) noexcept {
    // An input byte is invalid when lut_lo[low nibble] & lut_hi[high nibble] != 0. Bit 0: high
    // nibble 0, 1, 8-F (nothing valid); bit 1: 2x (only '-'); bit 2: 3x (digits); bit 3: 4x,
    // 6x (not '@', '`'); bit 4: 5x (up to 'Z', and '_'); bit 5: 7x (up to 'z').
    const __m256i lut_lo =
        _mm256_setr_epi8(0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x37,
                         0x37, 0x35, 0x37, 0x27, 0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
                         0x03, 0x03, 0x07, 0x37, 0x37, 0x35, 0x37, 0x27);
    const __m256i lut_hi = _mm256_setr_epi8(1, 1, 2, 4, 8, 0x10, 8, 0x20, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                            1, 2, 4, 8, 0x10, 8, 0x20, 1, 1, 1, 1, 1, 1, 1, 1);
    // What to add to a valid character, by high nibble ('_' is moved to index 13).
    const __m256i lut_roll =
        _mm256_setr_epi8(0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, -32, 0, 0, 0, 0, 17, 4,
                         -65, -65, -71, -71, 0, 0, 0, 0, 0, -32, 0, 0);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i underscore = _mm256_set1_epi8('_');
    const __m256i eight = _mm256_set1_epi8(8);
    const __m256i shuffle =
        _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4,
                         10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i pack = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
    __m256i bad = _mm256_setzero_si256();
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32, o += 24) {
        const __m256i in = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(in, 4), nibble);
        const __m256i lo = _mm256_and_si256(in, nibble);
        bad = _mm256_or_si256(bad, _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo),
                                                    _mm256_shuffle_epi8(lut_hi, hi)));
        const __m256i idx =
            _mm256_xor_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(in, underscore), eight));
        const __m256i v = _mm256_add_epi8(in, _mm256_shuffle_epi8(lut_roll, idx));
        // Four 6-bit values -> one 24-bit value per 32-bit lane, then bytes in order.
        const __m256i ab_cd = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
        const __m256i abcd = _mm256_madd_epi16(ab_cd, _mm256_set1_epi32(0x00011000));
        const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(abcd, shuffle), pack);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm256_castsi256_si128(bytes));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(o + 16), _mm256_extracti128_si256(bytes, 1));
    }
    if (!_mm256_testz_si256(bad, bad))
        return false;
    return b64url_decode_scalar(p + i, n - i, o);
}

inline bool b64url_have_avx2() noexcept {
    static const bool have = __builtin_cpu_supports("avx2");
    return have;
}
#endif

/// The decoder used by base64url_decode (AVX2 when the CPU has it).
inline bool b64url_decode_fast(const unsigned char* p, std::size_t n, char* o) noexcept {
#if OIDC_B64URL_AVX2
    if (n >= 32 && b64url_have_avx2())
        return b64url_decode_avx2(p, n, o);
#endif
    return b64url_decode_scalar(p, n, o);
}

} // namespace detail

/// Decodes strict base64url and appends the bytes to `out`; allocation-free when `out` has
/// the capacity (a reused buffer). Rejected with errc::base64url_invalid: padding '=', '+' or
/// '/', whitespace or any other byte outside the alphabet, a length that is 1 modulo 4, and
/// non-zero unused trailing bits (non-canonical encodings). On error the bytes after the
/// original size of `out` are unspecified.
inline std::error_code base64url_decode_append(std::string_view in, std::string& out) {
    const std::size_t n = in.size();
    if (n % 4 == 1)
        return errc::base64url_invalid;
    const std::size_t start = out.size();
    const std::size_t len = base64url_decoded_size(n);
    out.resize(start + len + 1); // one spare byte: each scalar group stores four bytes
    const bool ok = detail::b64url_decode_fast(reinterpret_cast<const unsigned char*>(in.data()), n,
                                               out.data() + start);
    out.resize(start + len);
    return ok ? std::error_code() : std::error_code(errc::base64url_invalid);
}

/// Decodes strict base64url into `out` (replaced; its capacity is reused). Rejected as by
/// base64url_decode_append. On error `out` holds unspecified bytes.
inline std::error_code base64url_decode(std::string_view in, std::string& out) {
    // No clear(): growing from the previous size fills fewer bytes than growing from zero.
    if (in.size() % 4 == 1)
        return errc::base64url_invalid;
    const std::size_t len = base64url_decoded_size(in.size());
    out.resize(len + 1);
    const bool ok = detail::b64url_decode_fast(reinterpret_cast<const unsigned char*>(in.data()),
                                               in.size(), out.data());
    out.resize(len);
    return ok ? std::error_code() : std::error_code(errc::base64url_invalid);
}

} // namespace oidc::jose
