// asio-oidc: the claims set of a JWT as a typed view (RFC 7519 4, OpenID Connect Core 2 and
// 5.1, RFC 9068 2.2). No I/O.
#pragma once

#include <oidc/error.hpp>
#include <oidc/jose/base64url.hpp> // OIDC_B64URL_AVX2, detail::b64url_have_avx2

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace oidc::jose {

/// The JSON type of a claim value.
enum class claim_type : std::uint8_t { null, boolean, integer, number, string, array, object };

namespace detail {
/// Called by the claims reader before the first member and after each top-level member,
/// once `offset` bytes of the text are read and at least at the offset that its previous
/// call returned: it returns the offset of its next call (0: the next member; SIZE_MAX:
/// none). For pacing other work along the read, such as hashing the token (jwt.hpp's HS256
/// path).
using claims_progress_fn = std::size_t (*)(void* arg, std::size_t offset) noexcept;
struct claims_paced_read;
} // namespace detail

/// The claims of a JWT, read once from the payload in a single pass.
///
/// Registered and common claims have typed accessors; their JSON type is checked when the
/// claims are parsed (a wrong type is `errc::claim_invalid`): `iss`, `sub`, `jti`, `azp`,
/// `nonce`, `acr`, `sid`, `scope`, `client_id`, `at_hash`, `c_hash` are strings; `aud` is a string
/// or an array of strings; `amr` is an array of strings; `exp`, `nbf`, `iat`, `auth_time` are
/// numbers (NumericDate, possibly non-integer). Any other claim is read by name.
///
/// String accessors return an empty view when the claim is absent: use `contains()` to tell an
/// absent claim from an empty string. Views stay valid until the object is changed or destroyed.
///
/// The object keeps one copy of the payload and refers into it (no string per claim); a
/// `claims` object that is reused parses without heap allocations once warmed up.
class claims {
public:
    claims() = default;

    /// Parses a claims set: a strict JSON object (RFC 8259: valid UTF-8, no unpaired surrogate
    /// escapes, no duplicate member names at any depth, nothing after it but whitespace, nesting
    /// at most 32 deep, numbers that fit a double, integers that fit 64 bits). Errors:
    /// json_invalid, json_duplicate_member, claim_invalid (a claim listed above with the wrong
    /// type). On error `out` is left empty. This checks no signature and no claim value.
    static inline std::error_code parse(std::string_view json, claims& out);
    /// The same, taking the text from `json` without a copy: `json` receives a spare buffer
    /// (for callers that decode into a reused string).
    static inline std::error_code parse_swap(std::string& json, claims& out);
    /// The same reader without its plain-text fast paths (every byte checked one by one):
    /// same results as parse(), for differential tests and fuzzing.
    static inline std::error_code parse_reference(std::string_view json, claims& out);

    // ---- registered and common claims ----
    std::string_view iss() const noexcept { return str(k_iss); }
    std::string_view sub() const noexcept { return str(k_sub); }
    /// The audiences: one element for a string `aud`, the array's elements otherwise.
    std::vector<std::string> aud() const { return strings(aud_); }
    std::size_t aud_count() const noexcept { return aud_.size(); }
    std::string_view aud_at(std::size_t i) const noexcept { return view(aud_[i]); }
    /// NumericDates in whole seconds since the epoch (rounded down; the exact value, which may
    /// be non-integer, is `get_number("exp")`). Empty when absent.
    std::optional<std::int64_t> exp() const noexcept { return date(k_exp); }
    std::optional<std::int64_t> nbf() const noexcept { return date(k_nbf); }
    std::optional<std::int64_t> iat() const noexcept { return date(k_iat); }
    std::optional<std::int64_t> auth_time() const noexcept { return date(k_auth_time); }
    std::string_view jti() const noexcept { return str(k_jti); }
    std::string_view azp() const noexcept { return str(k_azp); }
    std::string_view nonce() const noexcept { return str(k_nonce); }
    std::string_view acr() const noexcept { return str(k_acr); }
    std::vector<std::string> amr() const { return strings(amr_); }
    std::string_view sid() const noexcept { return str(k_sid); }
    std::string_view at_hash() const noexcept { return str(k_at_hash); }
    std::string_view c_hash() const noexcept { return str(k_c_hash); }
    /// The space-separated `scope` claim (RFC 8693 4.2, RFC 9068 2.2.3).
    std::string_view scope() const noexcept { return str(k_scope); }
    /// True when `scope` lists `s`.
    inline bool has_scope(std::string_view s) const noexcept;
    std::string_view client_id() const noexcept { return str(k_client_id); }
    /// OpenID Connect standard claims (5.1); empty when absent or not a string.
    std::string_view email() const noexcept { return get_string("email").value_or(""); }
    std::string_view name() const noexcept { return get_string("name").value_or(""); }
    std::string_view preferred_username() const noexcept {
        return get_string("preferred_username").value_or("");
    }

    // ---- any claim by name ----
    bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
    std::optional<claim_type> type(std::string_view name) const noexcept {
        const entry* e = find(name);
        return e ? std::optional<claim_type>(e->type) : std::nullopt;
    }
    /// The string value (unescaped), or empty when absent or not a string.
    std::optional<std::string_view> get_string(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e || e->type != claim_type::string)
            return std::nullopt;
        return view(e->str);
    }
    /// The value when it is a number with an integral value that fits int64.
    std::optional<std::int64_t> get_int(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e)
            return std::nullopt;
        if (e->type == claim_type::integer)
            return e->integer;
        if (e->type == claim_type::number && std::floor(e->number) == e->number &&
            e->number >= -9.2e18 && e->number <= 9.2e18)
            return static_cast<std::int64_t>(e->number);
        return std::nullopt;
    }
    /// Any number, as a double.
    std::optional<double> get_number(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e)
            return std::nullopt;
        if (e->type == claim_type::integer)
            return static_cast<double>(e->integer);
        if (e->type == claim_type::number)
            return e->number;
        return std::nullopt;
    }
    std::optional<bool> get_bool(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e || e->type != claim_type::boolean)
            return std::nullopt;
        return e->boolean;
    }
    /// The strings of an array claim made of strings only (e.g. Keycloak `groups`).
    inline std::optional<std::vector<std::string>> get_string_array(std::string_view name) const;
    /// The value's JSON text exactly as in the payload (objects and arrays as well: e.g.
    /// `realm_access`), or an empty string when absent.
    std::string raw(std::string_view name) const {
        const entry* e = find(name);
        return e ? std::string(raw_view(*e)) : std::string();
    }

    /// Claim names in document order.
    std::size_t size() const noexcept { return count_; }
    std::string_view name_at(std::size_t i) const noexcept { return view(entries_[i].name); }

    /// All claims as one JSON object, in document order (the payload without the whitespace
    /// between top-level members).
    inline std::string to_json() const;

    /// Empties the set (buffers are kept for reuse).
    void clear() noexcept {
        count_ = 0;
        index_.fill(-1);
        aud_.clear();
        amr_.clear();
        json_.clear();
        dec_.clear();
    }

    /// Indexes of the claims checked by type (internal; stable only within this version).
    enum known : std::uint8_t {
        k_iss,
        k_sub,
        k_aud,
        k_exp,
        k_nbf,
        k_iat,
        k_jti,
        k_azp,
        k_nonce,
        k_auth_time,
        k_acr,
        k_amr,
        k_sid,
        k_at_hash,
        k_c_hash,
        k_scope,
        k_client_id,
        k_count
    };
    /// Whether a typed claim is present.
    bool has(known k) const noexcept { return index_[k] >= 0; }
    /// The exact value of a NumericDate claim (exp, nbf, iat, auth_time).
    std::optional<double> date_value(known k) const noexcept {
        if (index_[k] < 0)
            return std::nullopt;
        const entry& e = entries_[static_cast<std::size_t>(index_[k])];
        return e.type == claim_type::integer ? static_cast<double>(e.integer) : e.number;
    }

private:
    /// Text in json_ (the payload copy) or, for strings with escapes, in dec_ (decoded).
    struct text_ref {
        std::uint32_t off = 0;
        std::uint32_t len = 0;
        bool decoded = false;
    };
    struct entry {
        text_ref name;             ///< decoded member name
        std::uint32_t hash = 0;    ///< of the name, for quick comparisons
        std::uint32_t key_off = 0; ///< the member name as written, quotes included
        std::uint32_t key_len = 0;
        std::uint32_t raw_off = 0; ///< the value as written
        std::uint32_t raw_len = 0;
        text_ref str; ///< string value
        double number = 0;
        std::int64_t integer = 0;
        claim_type type = claim_type::null;
        bool boolean = false;
    };
    template <int Mode>
    struct parser;
    friend struct detail::claims_paced_read;
    using progress_fn = detail::claims_progress_fn;
    static inline std::error_code parse_swap_paced(std::string& json, claims& out,
                                                   progress_fn progress, void* arg);
    static inline std::error_code parse_owned(claims& out, bool fast_paths = true,
                                              progress_fn progress = nullptr,
                                              void* progress_arg = nullptr);

    std::string_view view(const text_ref& r) const noexcept {
        return std::string_view(r.decoded ? dec_ : json_).substr(r.off, r.len);
    }
    std::string_view raw_view(const entry& e) const noexcept {
        return std::string_view(json_).substr(e.raw_off, e.raw_len);
    }
    std::vector<std::string> strings(const std::vector<text_ref>& v) const {
        std::vector<std::string> out;
        out.reserve(v.size());
        for (const auto& r : v)
            out.emplace_back(view(r));
        return out;
    }
    std::string_view str(known k) const noexcept {
        return index_[k] < 0 ? std::string_view()
                             : view(entries_[static_cast<std::size_t>(index_[k])].str);
    }
    std::optional<std::int64_t> date(known k) const noexcept {
        auto d = date_value(k);
        if (!d)
            return std::nullopt;
        double f = std::floor(*d);
        if (f >= 9.2e18)
            return INT64_MAX;
        if (f <= -9.2e18)
            return INT64_MIN;
        return static_cast<std::int64_t>(f);
    }
    /// A cheap hash of a member name (length and three bytes), for quick comparisons.
    static constexpr std::uint32_t name_hash(std::string_view s) noexcept {
        std::uint32_t h = static_cast<std::uint32_t>(s.size()) << 24;
        if (!s.empty())
            h ^= static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) << 16 ^
                 static_cast<std::uint32_t>(static_cast<unsigned char>(s[s.size() / 2])) << 8 ^
                 static_cast<unsigned char>(s.back());
        return h * 0x9E3779B1u;
    }
    const entry* find(std::string_view name) const noexcept {
        const std::uint32_t h = name_hash(name);
        for (std::size_t i = 0; i < count_; ++i)
            if (entries_[i].hash == h && view(entries_[i].name) == name)
                return &entries_[i];
        return nullptr;
    }

    static constexpr std::array<std::int16_t, k_count> make_empty_index() {
        std::array<std::int16_t, k_count> a{};
        for (auto& x : a)
            x = -1;
        return a;
    }

    std::string json_; ///< the payload
    std::string dec_;  ///< decoded strings that had escapes (capacity >= json_.size())
    /// The claims are entries_[0, count_): the entries after them are kept for reuse (each
    /// field is set again before it is read: a value field only with the type that reads it).
    std::vector<entry> entries_;
    std::size_t count_ = 0;
    std::array<std::int16_t, k_count> index_ = make_empty_index();
    std::vector<text_ref> aud_;
    std::vector<text_ref> amr_;
};

namespace detail {

inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 (RFC 3629: no overlong
/// forms, no surrogates, nothing above U+10FFFF).
inline std::size_t utf8_sequence(const unsigned char* p, const unsigned char* e) noexcept {
    const unsigned c = p[0];
    auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return p + i < e && p[i] >= lo && p[i] <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF)
        return cont(1) ? 2 : 0;
    if (c == 0xE0)
        return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xED)
        return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (c == 0xF0)
        return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3)
        return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4)
        return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

/// What plain_scan found.
enum plain_text : std::uint8_t {
    text_checked = 0, ///< escapes, control bytes or non-ASCII: every string needs a look
    text_plain = 1,   ///< none of those: strings end at the next quote, nothing inside to check
    text_compact = 3, ///< plain, and no whitespace outside strings
};

/// Bit i set when an odd number of bits up to i are set in `x` (inside a quoted span).
constexpr std::uint64_t prefix_xor(std::uint64_t x) noexcept {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/// The state of plain_scan between 64-byte blocks.
struct plain_scan_state {
    std::uint64_t in_string = 0; ///< all ones when the previous block ended inside a string
    std::uint64_t spaces_outside = 0;
    bool special = false;

    /// Takes the quote and space bits of the next `keep` bytes (bits 0..keep-1).
    void add(std::uint64_t quotes, std::uint64_t spaces, unsigned keep) noexcept {
        const std::uint64_t inside = prefix_xor(quotes) ^ in_string;
        spaces_outside |= spaces & ~inside;
        in_string =
            static_cast<std::uint64_t>(static_cast<std::int64_t>(inside << (64 - keep)) >> 63);
    }
    plain_text result() const noexcept {
        return special ? text_checked : spaces_outside ? text_plain : text_compact;
    }
};

/// Runs `block(q, keep)` over `s` in 64-byte blocks; `block` returns the quote bits of the
/// `keep` bytes ending at q + 64 (bits 0..keep-1). A last partial block is read as the last
/// 64 bytes (overlapping) or, for a text under 64 bytes, from a padded copy.
template <class Block>
inline void plain_blocks(std::string_view s, std::vector<std::uint64_t>& bits, Block&& block) {
    const std::size_t n = s.size();
    bits.assign((n + 63) / 64 + 1, 0); // and a zero word after the text's words
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64)
        bits[i / 64] = block(p + i, 64u);
    if (i < n) {
        const auto rest = static_cast<unsigned>(n - i);
        if (n >= 64) {
            bits[i / 64] = block(p + n - 64, rest);
        } else {
            alignas(32) unsigned char tail[64];
            std::memset(tail, 'x', sizeof tail);
            std::memcpy(tail + 64 - rest, p + i, rest);
            bits[i / 64] = block(tail, rest);
        }
    }
}

/// plain_scan one byte at a time (the portable version and the reference of the others).
inline plain_text plain_scan_scalar(std::string_view s, std::vector<std::uint64_t>& bits) {
    plain_scan_state st;
    plain_blocks(s, bits, [&](const unsigned char* q, unsigned keep) {
        std::uint64_t quotes = 0, spaces = 0;
        for (unsigned k = 64 - keep; k < 64; ++k) {
            const unsigned c = q[k];
            st.special |= c < 0x20 || c >= 0x80 || c == '\\';
            quotes |= static_cast<std::uint64_t>(c == '"') << (k - (64 - keep));
            spaces |= static_cast<std::uint64_t>(c == ' ') << (k - (64 - keep));
        }
        st.add(quotes, spaces, keep);
        return quotes;
    });
    return st.result();
}

#if defined(__SSE2__)
/// plain_scan with SSE2.
inline plain_text plain_scan_sse2(std::string_view s, std::vector<std::uint64_t>& bits) {
    plain_scan_state st;
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');
    const __m128i quote = _mm_set1_epi8('"');
    __m128i special = _mm_setzero_si128();
    plain_blocks(s, bits, [&](const unsigned char* q, unsigned keep) {
        std::uint64_t quotes = 0, spaces = 0;
        for (int k = 0; k < 4; ++k) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * k));
            // Signed: bytes from 0x80 are negative, hence below 0x20 too.
            special = _mm_or_si128(
                special, _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, backslash)));
            quotes |= static_cast<std::uint64_t>(
                          static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote))))
                      << (16 * k);
            spaces |= static_cast<std::uint64_t>(
                          static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, space))))
                      << (16 * k);
        }
        quotes >>= 64 - keep;
        st.add(quotes, spaces >> (64 - keep), keep);
        return quotes;
    });
    st.special = _mm_movemask_epi8(special) != 0;
    return st.result();
}
#endif

#if OIDC_B64URL_AVX2
/// Bit i set when byte i of lo:hi (64 bytes) equals the byte of `c`.
__attribute__((target("avx2"))) inline std::uint64_t avx2_eq_bits(__m256i lo, __m256i hi,
                                                                  __m256i c) noexcept {
    return static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, c))) |
           static_cast<std::uint64_t>(
               static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, c))))
               << 32;
}

/// plain_scan with AVX2 (its own loop: a lambda would not be inlined across the target). The
/// in-string mask is computed only for blocks that hold a space; the parity of the quotes
/// before a block tells whether it starts inside a string.
__attribute__((target("avx2"))) inline plain_text
plain_scan_avx2(std::string_view s, std::vector<std::uint64_t>& bits) {
    const std::size_t n = s.size();
    if (n < 64)
        return plain_scan_sse2(s, bits);
    const std::size_t words = (n + 63) / 64;
    bits.resize(words + 1); // every word is written below, and a zero word after them
    bits[words] = 0;
    std::uint64_t* out = bits.data();
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const __m256i backslash = _mm256_set1_epi8('\\');
    const __m256i space = _mm256_set1_epi8(' ');
    const __m256i quote = _mm256_set1_epi8('"');
    __m256i special = _mm256_setzero_si256();
    std::uint64_t before = 0; // the xor of the earlier blocks' quote bits
    std::uint64_t spaces_outside = 0;
    for (std::size_t i = 0; i < n; i += 64) {
        // The last partial block is read as the last 64 bytes (overlapping the previous one).
        const unsigned keep = n - i >= 64 ? 64u : static_cast<unsigned>(n - i);
        const unsigned char* q = p + (keep == 64 ? i : n - 64);
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
        const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32));
        // Signed: bytes from 0x80 are negative, hence below 0x20 too.
        special = _mm256_or_si256(
            special,
            _mm256_or_si256(
                _mm256_or_si256(_mm256_cmpgt_epi8(space, lo), _mm256_cmpeq_epi8(lo, backslash)),
                _mm256_or_si256(_mm256_cmpgt_epi8(space, hi), _mm256_cmpeq_epi8(hi, backslash))));
        const std::uint64_t quotes = avx2_eq_bits(lo, hi, quote) >> (64 - keep);
        const std::uint64_t spaces = avx2_eq_bits(lo, hi, space) >> (64 - keep);
        if (spaces != 0) {
            const std::uint64_t starts_inside =
                0 - static_cast<std::uint64_t>(__builtin_parityll(before));
            spaces_outside |= spaces & ~(prefix_xor(quotes) ^ starts_inside);
        }
        before ^= quotes;
        out[i / 64] = quotes;
    }
    if (!_mm256_testz_si256(special, special))
        return text_checked;
    return spaces_outside ? text_plain : text_compact;
}
#endif

/// Fills `bits` with one bit per byte of `s`, set at each '"' (plus one zero word after them),
/// and tells whether `s` is plain (no byte below 0x20, no backslash, no byte from 0x80: then
/// strings need no check beyond finding their closing quote) and compact (plain with no space
/// outside strings). For a text that is not plain, `bits` is unspecified. AVX2 when the CPU
/// has it, else SSE2, else one byte at a time; the three give the same results.
inline plain_text plain_scan(std::string_view s, std::vector<std::uint64_t>& bits) {
#if OIDC_B64URL_AVX2
    if (b64url_have_avx2())
        return plain_scan_avx2(s, bits);
#endif
#if defined(__SSE2__)
    return plain_scan_sse2(s, bits);
#else
    return plain_scan_scalar(s, bits);
#endif
}

} // namespace detail

/// The single-pass reader behind claims::parse: validates the whole text and indexes the
/// top-level members (names, value spans, typed values) into the claims object.
///
/// `Mode` (a detail::plain_text value) selects the string and whitespace readers: text_checked
/// checks every byte; text_plain finds a string's end in the quote bitmap; text_compact also
/// skips no whitespace (there is none outside strings). The three read the same language.
template <int Mode>
struct claims::parser {
    /// Internal result (cheaper than std::error_code on the hot path).
    enum perr : std::uint8_t { p_ok = 0, p_invalid, p_dup, p_claim };
    static constexpr std::size_t max_depth = 32;

    claims& c;
    const char* b; ///< start of c.json_
    const char* p;
    const char* e;
    std::vector<std::string_view>& keys; ///< names of the objects being read (duplicates)
    std::vector<text_ref>& items;        ///< strings of the top-level array being read
    bool items_all_strings = true;
    bool claim_error = false;
    /// Plain modes (the text holds no byte below 0x20, no backslash and no byte from 0x80: the
    /// usual compact JWT payload): one bit per byte set at each '"', so a string ends at the
    /// next set bit with nothing inside to check. Unused in text_checked mode.
    const std::uint64_t* quotes = nullptr;
    std::size_t quote_words = 0;
    std::uint64_t seen[8]; ///< unique_top_name's filter
    progress_fn progress = nullptr;
    void* progress_arg = nullptr;
    std::size_t next_progress = SIZE_MAX; ///< the offset of progress()'s next call

    /// Calls progress() when its offset is reached (one comparison otherwise).
    [[gnu::always_inline]] void tick() noexcept {
        if (static_cast<std::size_t>(p - b) >= next_progress) [[unlikely]]
            next_progress = progress(progress_arg, off(p));
    }

    std::uint32_t off(const char* q) const noexcept { return static_cast<std::uint32_t>(q - b); }
    /// c.view(r) (plain texts have no decoded strings).
    std::string_view sv(const text_ref& r) const noexcept {
        if constexpr (Mode != detail::text_checked)
            return std::string_view(b + r.off, r.len);
        else
            return c.view(r);
    }

    // The text is c.json_, a std::string: *e is '\0', which matches no expected byte, so the
    // structural checks below read *p without comparing p with e (p never passes e).

    [[gnu::always_inline]] void ws() noexcept {
        if constexpr (Mode == detail::text_compact)
            return; // no whitespace outside strings
        // One comparison when there is no whitespace (compact JSON).
        while (static_cast<unsigned char>(*p) <= ' ' &&
               (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
            ++p;
    }

    // Scans a string whose opening quote is at p. `out` receives the decoded text: a span of
    // the input when there is no escape, else a span of c.dec_ (only when `decode`).
    [[gnu::always_inline]] perr string(text_ref& out, bool decode) {
        if constexpr (Mode != detail::text_checked) {
            // The closing quote is the next quote bit after the opening one. `quotes` has a
            // zero word after the text's words, so word `w` is always there.
            ++p;
            const std::size_t pos = off(p);
            std::size_t w = pos >> 6;
            std::uint64_t bits = quotes[w] >> (pos & 63);
            std::size_t q = pos;
            if (bits == 0) {
                do {
                    if (++w >= quote_words)
                        return p_invalid; // unterminated
                } while (quotes[w] == 0);
                bits = quotes[w];
                q = w * 64;
            }
            q += static_cast<std::size_t>(__builtin_ctzll(bits));
            out = text_ref{static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(q - pos),
                           false};
            p = b + q + 1;
            return p_ok;
        }
        return string_checked(out, decode);
    }

    // string() when the text has bytes that need a look: escapes, control bytes, UTF-8.
    perr string_checked(text_ref& out, bool decode) {
        ++p;
        const char* start = p;
        for (;;) {
#if defined(__SSE2__)
            while (e - p >= 16) {
                __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
                // Bytes below 0x20 and from 0x80 (negative as signed), '"' and '\\' stop.
                __m128i stop = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
                int m = _mm_movemask_epi8(stop);
                if (m != 0) {
                    p += __builtin_ctz(static_cast<unsigned>(m));
                    break;
                }
                p += 16;
            }
#endif
            if (p >= e)
                return p_invalid;
            const auto ch = static_cast<unsigned char>(*p);
            if (ch == '"') {
                out = text_ref{off(start), static_cast<std::uint32_t>(p - start), false};
                ++p;
                return p_ok;
            }
            if (ch == '\\')
                return escaped_string(start, out, decode);
            if (ch < 0x20)
                return p_invalid;
            if (ch >= 0x80) {
                std::size_t n = detail::utf8_sequence(reinterpret_cast<const unsigned char*>(p),
                                                      reinterpret_cast<const unsigned char*>(e));
                if (n == 0)
                    return p_invalid;
                p += n;
            } else {
                ++p;
            }
        }
    }

    bool hex4(std::uint32_t& v) noexcept {
        if (e - p < 4)
            return false;
        v = 0;
        for (int i = 0; i < 4; ++i) {
            int h = detail::hex_value(p[i]);
            if (h < 0)
                return false;
            v = (v << 4) | static_cast<std::uint32_t>(h);
        }
        p += 4;
        return true;
    }

    // The slow path from the first backslash: validates (and decodes into c.dec_) the rest.
    perr escaped_string(const char* start, text_ref& out, bool decode) {
        std::string& d = c.dec_;
        const std::size_t d0 = d.size();
        if (decode)
            d.append(start, static_cast<std::size_t>(p - start));
        while (p < e) {
            const auto ch = static_cast<unsigned char>(*p);
            if (ch == '"') {
                ++p;
                out = decode ? text_ref{static_cast<std::uint32_t>(d0),
                                        static_cast<std::uint32_t>(d.size() - d0), true}
                             : text_ref{};
                return p_ok;
            }
            if (ch < 0x20)
                return p_invalid;
            if (ch >= 0x80) {
                std::size_t n = detail::utf8_sequence(reinterpret_cast<const unsigned char*>(p),
                                                      reinterpret_cast<const unsigned char*>(e));
                if (n == 0)
                    return p_invalid;
                if (decode)
                    d.append(p, n);
                p += n;
                continue;
            }
            if (ch != '\\') {
                if (decode)
                    d.push_back(static_cast<char>(ch));
                ++p;
                continue;
            }
            if (++p >= e)
                return p_invalid;
            char x = *p++;
            char lit = 0;
            switch (x) {
            case '"':
            case '\\':
            case '/':
                lit = x;
                break;
            case 'b':
                lit = '\b';
                break;
            case 'f':
                lit = '\f';
                break;
            case 'n':
                lit = '\n';
                break;
            case 'r':
                lit = '\r';
                break;
            case 't':
                lit = '\t';
                break;
            case 'u': {
                std::uint32_t cp = 0;
                if (!hex4(cp))
                    return p_invalid;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return p_invalid; // unpaired low surrogate
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    std::uint32_t lo = 0;
                    if (e - p < 2 || p[0] != '\\' || p[1] != 'u')
                        return p_invalid; // unpaired high surrogate
                    p += 2;
                    if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return p_invalid;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (decode)
                    detail::append_utf8(d, cp);
                continue;
            }
            default:
                return p_invalid;
            }
            if (decode)
                d.push_back(lit);
        }
        return p_invalid;
    }

    /// The value of a decimal digit, or 10 and more for any other byte.
    static unsigned digit(char ch) noexcept {
        return static_cast<unsigned>(static_cast<unsigned char>(ch)) - '0';
    }

    // RFC 8259 6. Integers are kept exact when they fit int64; other numbers become doubles
    // (an integer beyond 64 bits or a number beyond the double range is refused; a number
    // too small for a double reads as zero).
    perr number(entry* out) {
        const char* start = p;
        bool neg = false;
        if (*p == '-') {
            neg = true;
            ++p;
        }
        if (p >= e)
            return p_invalid;
        const char* int_begin = p;
        std::uint64_t int_value = 0; // exact while there are at most 18 digits
        if (*p == '0') {
            ++p;
        } else if (*p >= '1' && *p <= '9') {
            // *e is '\0' (see ws()): no bounds check in the digit loops.
            for (unsigned d; (d = digit(*p)) < 10; ++p)
                int_value = int_value * 10 + d;
        } else {
            return p_invalid;
        }
        const std::size_t int_digits = static_cast<std::size_t>(p - int_begin);
        bool is_int = true;
        const char* frac_begin = nullptr;
        const char* frac_end = nullptr;
        if (*p == '.') {
            is_int = false;
            frac_begin = ++p;
            while (digit(*p) < 10)
                ++p;
            if (p == frac_begin)
                return p_invalid;
            frac_end = p;
        }
        long long exp10 = 0;
        if (*p == 'e' || *p == 'E') {
            is_int = false;
            ++p;
            bool eneg = false;
            if (*p == '+' || *p == '-')
                eneg = *p++ == '-';
            const char* d0 = p;
            while (digit(*p) < 10) {
                if (exp10 < 1000000)
                    exp10 = exp10 * 10 + (*p - '0');
                ++p;
            }
            if (p == d0)
                return p_invalid;
            if (eneg)
                exp10 = -exp10;
        }
        if (is_int && int_digits <= 18) {
            if (out) {
                out->type = claim_type::integer;
                out->integer = neg ? -static_cast<std::int64_t>(int_value)
                                   : static_cast<std::int64_t>(int_value);
            }
            return p_ok;
        }
        if (is_int) {
            std::int64_t v = 0;
            auto r = std::from_chars(start, p, v);
            if (r.ec == std::errc() && r.ptr == p) {
                if (out) {
                    out->type = claim_type::integer;
                    out->integer = v;
                }
                return p_ok;
            }
            std::uint64_t u = 0;
            if (neg || std::from_chars(start, p, u).ec != std::errc())
                return p_invalid;
            if (out) {
                out->type = claim_type::number;
                out->number = static_cast<double>(u);
            }
            return p_ok;
        }
        double d = 0;
        auto r = std::from_chars(start, p, d);
        if (r.ec == std::errc::result_out_of_range) {
            // Overflow or underflow: the decimal magnitude tells which.
            long long mag = 0;
            if (!(int_digits == 1 && *int_begin == '0')) {
                mag = static_cast<long long>(int_digits) - 1 + exp10;
            } else {
                long long z = 0;
                const char* q = frac_begin;
                while (q && q < frac_end && *q == '0') {
                    ++z;
                    ++q;
                }
                mag = -(z + 1) + exp10;
            }
            if (mag > 0)
                return p_invalid;
            d = neg ? -0.0 : 0.0;
        } else if (r.ec != std::errc() || r.ptr != p || !std::isfinite(d)) {
            return p_invalid;
        }
        if (out) {
            out->type = claim_type::number;
            out->number = d;
        }
        return p_ok;
    }

    bool literal(std::string_view word) noexcept {
        if (static_cast<std::size_t>(e - p) < word.size() ||
            std::string_view(p, word.size()) != word)
            return false;
        p += word.size();
        return true;
    }

    // Reads one value at `depth` (the top-level object is depth 1). With `out`, the value of a
    // top-level member is recorded; `collect` gathers the strings of a top-level array.
    perr value(std::size_t depth, entry* out, bool collect) {
        if (depth > max_depth || p >= e)
            return p_invalid;
        switch (*p) {
        case '"': {
            text_ref r;
            if (auto ec = string(r, out != nullptr || collect))
                return ec;
            if (out) {
                out->type = claim_type::string;
                out->str = r;
            } else if (collect) {
                items.push_back(r);
            }
            return p_ok;
        }
        case '{':
            if (collect)
                items_all_strings = false;
            if (out)
                out->type = claim_type::object;
            return object(depth);
        case '[': {
            if (collect)
                items_all_strings = false;
            const bool gather = out != nullptr; // a top-level array: its strings are kept
            if (gather) {
                out->type = claim_type::array;
                items.clear();
                items_all_strings = true;
            }
            ++p;
            ws();
            if (*p == ']') {
                ++p;
                return p_ok;
            }
            for (;;) {
                if (*p == '"' && depth < max_depth) { // a string element, without a call
                    text_ref r;
                    if (auto ec = string(r, gather))
                        return ec;
                    if (gather)
                        items.push_back(r);
                } else if (auto ec = value(depth + 1, nullptr, gather)) {
                    return ec;
                }
                ws();
                if (*p == ',') {
                    ++p;
                    ws();
                    continue;
                }
                if (*p == ']') {
                    ++p;
                    return p_ok;
                }
                return p_invalid;
            }
        }
        case 't':
        case 'f':
            if (collect)
                items_all_strings = false;
            if (literal("true")) {
                if (out) {
                    out->type = claim_type::boolean;
                    out->boolean = true;
                }
                return p_ok;
            }
            if (literal("false")) {
                if (out) {
                    out->type = claim_type::boolean;
                    out->boolean = false;
                }
                return p_ok;
            }
            return p_invalid;
        case 'n':
            if (collect)
                items_all_strings = false;
            if (!literal("null"))
                return p_invalid;
            if (out)
                out->type = claim_type::null;
            return p_ok;
        default:
            if (collect)
                items_all_strings = false;
            if (*p == '-' || (*p >= '0' && *p <= '9'))
                return number(out);
            return p_invalid;
        }
    }

    // A nested object (p at '{'): member names must be unique within it.
    perr object(std::size_t depth) {
        ++p;
        ws();
        if (*p == '}') {
            ++p;
            return p_ok;
        }
        const std::size_t first = keys.size();
        for (;;) {
            if (*p != '"')
                return p_invalid;
            text_ref k;
            // Names are decoded only when they hold an escape (for the duplicate check).
            if (auto ec = string(k, true))
                return ec;
            std::string_view name = sv(k);
            for (std::size_t i = first; i < keys.size(); ++i)
                if (keys[i] == name)
                    return p_dup;
            keys.push_back(name);
            ws();
            if (*p != ':')
                return p_invalid;
            ++p;
            ws();
            if (*p == '"' && depth < max_depth) { // a string value, without a call
                text_ref r;
                if (auto ec = string(r, false))
                    return ec;
            } else if (auto ec = value(depth + 1, nullptr, false)) {
                return ec;
            }
            ws();
            if (*p == ',') {
                ++p;
                ws();
                continue;
            }
            if (*p == '}') {
                ++p;
                keys.resize(first);
                return p_ok;
            }
            return p_invalid;
        }
    }

    // Which typed claim a member name is, or k_count: bits 6..12 of name_hash tell the typed
    // names apart (checked at compile time), then one comparison. `in_text`: the name is a
    // span of the text (not decoded), followed by its closing quote and at least one more
    // byte (':' or the terminating '\0'), so two word loads compare it.
    struct known_name {
        std::uint64_t head = 0, head_mask = 0; ///< the name and its quote, from byte 0
        std::uint32_t tail = 0;                ///< the last three bytes and the quote
        std::uint8_t len = 0;
    };
    static constexpr std::string_view known_names[k_count] = {
        "iss",       "sub", "aud", "exp", "nbf",     "iat",    "jti",   "azp",      "nonce",
        "auth_time", "acr", "amr", "sid", "at_hash", "c_hash", "scope", "client_id"};
    static constexpr std::array<known_name, k_count> known_words = [] {
        std::array<known_name, k_count> a{};
        for (std::size_t k = 0; k < k_count; ++k) {
            const std::string_view n = known_names[k];
            if (n.size() < 3 || n.size() > 11)
                throw "a typed claim name must have 3 to 11 bytes";
            auto byte = [&](std::size_t i) -> std::uint64_t {
                return i < n.size() ? static_cast<unsigned char>(n[i]) : '"';
            };
            const std::size_t head_len = n.size() <= 5 ? 4 : std::min<std::size_t>(8, n.size() + 1);
            for (std::size_t i = 0; i < head_len; ++i) {
                a[k].head |= byte(i) << (8 * i);
                a[k].head_mask |= std::uint64_t{0xff} << (8 * i);
            }
            for (std::size_t i = 0; i < 4; ++i)
                a[k].tail |= static_cast<std::uint32_t>(byte(n.size() - 3 + i) << (8 * i));
            a[k].len = static_cast<std::uint8_t>(n.size());
        }
        return a;
    }();
    static known known_by_hash(std::string_view n, std::uint32_t h, bool in_text) noexcept {
        static constexpr std::array<std::uint8_t, 128> table = [] {
            std::array<std::uint8_t, 128> t{};
            for (auto& x : t)
                x = k_count;
            for (std::uint8_t k = 0; k < k_count; ++k) {
                auto& slot = t[(name_hash(known_names[k]) >> 6) & 127];
                if (slot != k_count)
                    throw "two typed claim names share a slot: change the bits";
                slot = k;
            }
            return t;
        }();
        const std::uint8_t k = table[(h >> 6) & 127];
        if (k == k_count || n.size() != known_names[k].size())
            return k_count;
        if constexpr (std::endian::native == std::endian::little) {
            if (in_text) {
                // Bytes [0, 4) or [0, 8) and [len - 3, len + 1): all of the name and its quote
                // (names of 3 to 11 bytes), never past the byte after the quote.
                const known_name& w = known_words[k];
                std::uint64_t head = 0;
                std::memcpy(&head, n.data(), n.size() <= 5 ? 4 : 8);
                std::uint32_t tail = 0;
                std::memcpy(&tail, n.data() + n.size() - 3, 4);
                return (head & w.head_mask) == w.head && tail == w.tail ? static_cast<known>(k)
                                                                        : k_count;
            }
        }
        return n == known_names[k] ? static_cast<known>(k) : k_count;
    }

    // Duplicate check of the top-level names: a 512-bit filter on the name hashes; a name
    // whose bit is already set (a repeated name or a collision) is compared with the earlier
    // entries (their hashes first).
    bool unique_top_name(std::string_view name, std::uint32_t h) noexcept {
        const std::uint64_t bit = std::uint64_t{1} << ((h >> 23) & 63);
        std::uint64_t& w = seen[h >> 29];
        if ((w & bit) == 0) {
            w |= bit;
            return true;
        }
        const std::size_t n = c.count_ - 1; // index of the new entry
        for (std::size_t i = 0; i < n; ++i)
            if (c.entries_[i].hash == h && sv(c.entries_[i].name) == name)
                return false;
        return true;
    }

    // The top-level object: every member becomes an entry.
    perr top() {
        ws();
        if (*p != '{')
            return p_invalid;
        ++p;
        ws();
        if (*p == '}') {
            ++p;
        } else {
            for (;;) {
                if (*p != '"')
                    return p_invalid;
                const std::size_t index = c.count_++;
                if (index == c.entries_.size())
                    c.entries_.emplace_back();
                entry& en = c.entries_[index];
                en.key_off = off(p);
                if (auto ec = string(en.name, true))
                    return ec;
                en.key_len = off(p) - en.key_off;
                const std::string_view name = sv(en.name);
                en.hash = name_hash(name);
                if (!unique_top_name(name, en.hash))
                    return p_dup;
                ws();
                if (*p != ':')
                    return p_invalid;
                ++p;
                ws();
                const known k = known_by_hash(name, en.hash, !en.name.decoded);
                en.raw_off = off(p);
                if (*p == '"') { // a string value, without a call
                    if (auto ec = string(en.str, true))
                        return ec;
                    en.type = claim_type::string;
                } else if (digit(*p) < 10) { // a number (exp, iat ...), without value()'s frame
                    if (auto ec = number(&en))
                        return ec;
                } else if (auto ec = value(2, &en, false)) {
                    return ec;
                }
                en.raw_len = off(p) - en.raw_off;
                // A claim of the wrong type is reported once the whole text is known to be
                // JSON (a syntax error later on wins).
                if (k != k_count && typed(k, en, index) != p_ok)
                    claim_error = true;
                tick();
                ws();
                if (*p == ',') {
                    ++p;
                    ws();
                    continue;
                }
                if (*p == '}') {
                    ++p;
                    break;
                }
                return p_invalid;
            }
        }
        ws();
        if (p != e)
            return p_invalid;
        return claim_error ? p_claim : p_ok;
    }

    perr typed(known k, const entry& en, std::size_t index) {
        c.index_[k] = static_cast<std::int16_t>(index);
        switch (k) {
        case k_aud:
            if (en.type == claim_type::string) {
                c.aud_.assign(1, en.str);
                return p_ok;
            }
            if (en.type != claim_type::array || !items_all_strings)
                return p_claim;
            c.aud_.assign(items.begin(), items.end());
            return p_ok;
        case k_amr:
            if (en.type != claim_type::array || !items_all_strings)
                return p_claim;
            c.amr_.assign(items.begin(), items.end());
            return p_ok;
        case k_exp:
        case k_nbf:
        case k_iat:
        case k_auth_time:
            return en.type == claim_type::integer || en.type == claim_type::number ? p_ok : p_claim;
        default:
            return en.type == claim_type::string ? p_ok : p_claim;
        }
    }
};

inline std::error_code claims::parse(std::string_view json, claims& out) {
    out.clear();
    out.json_.assign(json.data(), json.size());
    return parse_owned(out);
}

inline std::error_code claims::parse_swap(std::string& json, claims& out) {
    out.clear();
    out.json_.swap(json);
    return parse_owned(out);
}

inline std::error_code claims::parse_swap_paced(std::string& json, claims& out,
                                                progress_fn progress, void* arg) {
    out.clear();
    out.json_.swap(json);
    return parse_owned(out, true, progress, arg);
}

namespace detail {
/// claims::parse_swap() calling `progress` along the read (first at offset 0).
struct claims_paced_read {
    static std::error_code parse_swap(std::string& json, claims& out, claims_progress_fn progress,
                                      void* arg) {
        return claims::parse_swap_paced(json, out, progress, arg);
    }
};
} // namespace detail

inline std::error_code claims::parse_reference(std::string_view json, claims& out) {
    out.clear();
    out.json_.assign(json.data(), json.size());
    return parse_owned(out, false);
}

inline std::error_code claims::parse_owned(claims& out, bool fast_paths, progress_fn progress,
                                           void* progress_arg) {
    if (out.json_.size() > 0xFFFFFFF0u) {
        out.clear();
        return errc::input_too_large;
    }
    // Decoded strings are never longer than their escaped form: no reallocation while parsing,
    // so views into dec_ stay valid during the pass.
    out.dec_.reserve(out.json_.size());
    thread_local std::vector<std::string_view> keys;
    thread_local std::vector<text_ref> items;
    thread_local std::vector<std::uint64_t> quotes;
    keys.clear();
    const detail::plain_text mode =
        fast_paths ? detail::plain_scan(out.json_, quotes) : detail::text_checked;
    auto run = [&](auto m) {
        parser<decltype(m)::value> ps{out,
                                      out.json_.data(),
                                      out.json_.data(),
                                      out.json_.data() + out.json_.size(),
                                      keys,
                                      items,
                                      true,
                                      false,
                                      quotes.data(),
                                      quotes.empty() ? 0 : quotes.size() - 1,
                                      {},
                                      progress,
                                      progress_arg};
        if (progress)
            ps.next_progress = progress(progress_arg, 0);
        return static_cast<int>(ps.top());
    };
    const int r =
        mode == detail::text_compact ? run(std::integral_constant<int, detail::text_compact>())
        : mode == detail::text_plain ? run(std::integral_constant<int, detail::text_plain>())
                                     : run(std::integral_constant<int, detail::text_checked>());
    using perr = parser<detail::text_checked>::perr;
    if (r == perr::p_ok)
        return {};
    out.clear();
    return r == perr::p_dup     ? errc::json_duplicate_member
           : r == perr::p_claim ? errc::claim_invalid
                                : errc::json_invalid;
}

inline bool claims::has_scope(std::string_view s) const noexcept {
    if (s.empty())
        return false;
    std::string_view all = scope();
    while (!all.empty()) {
        auto sp = all.find(' ');
        std::string_view tok = all.substr(0, sp);
        if (tok == s)
            return true;
        if (sp == std::string_view::npos)
            break;
        all.remove_prefix(sp + 1);
    }
    return false;
}

inline std::optional<std::vector<std::string>>
claims::get_string_array(std::string_view name) const {
    const entry* e = find(name);
    if (!e || e->type != claim_type::array)
        return std::nullopt;
    // Read the array alone as the member of a one-member claims set.
    claims one;
    std::string text = "{\"aud\":";
    text += raw_view(*e);
    text += '}';
    if (claims::parse(text, one))
        return std::nullopt;
    return one.aud();
}

inline std::string claims::to_json() const {
    std::string out;
    out.reserve(json_.size() + 2);
    out.push_back('{');
    for (std::size_t i = 0; i < count_; ++i) {
        if (i)
            out.push_back(',');
        const entry& en = entries_[i];
        out.append(json_, en.key_off, en.key_len);
        out.push_back(':');
        out.append(raw_view(en));
    }
    out.push_back('}');
    return out;
}

} // namespace oidc::jose
