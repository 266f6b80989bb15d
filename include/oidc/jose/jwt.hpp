// asio-oidc: JWT and ID-token validation (RFC 7519 7.2, RFC 9068 4, OpenID Connect Core 1.0
// 3.1.3.7, 3.2.2.9, 3.3.2.10). No I/O: the key set comes from the caller (see jwks_cache).
#pragma once

#include <oidc/error.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/base64url.hpp>
#include <oidc/jose/claims.hpp>
#include <oidc/jose/jwks.hpp>
#include <oidc/jose/jws.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace oidc::jose {

/// What `validate` checks beyond the signature. The defaults fail closed: an empty `issuer`
/// or an empty set of accepted audiences rejects every token.
struct validation_options {
    /// Which rules apply.
    /// - `jwt`: RFC 7519 rules (iss, aud, exp, nbf, iat, and what the options below ask).
    /// - `id_token`: OpenID Connect Core 3.1.3.7 as well: `sub`, `iat` and `exp` required; the
    ///   audiences default to `client_id`; every `aud` entry must be `client_id`, one of
    ///   `audiences` or one of `trusted_audiences`; `azp` required when there are several
    ///   audiences and equal to `client_id` when present.
    /// - `access_token`: RFC 9068: the header `typ` must be `at+jwt` (unless `typ` says otherwise).
    enum class profile { jwt, id_token, access_token };

    std::string issuer;                         ///< required, compared exactly
    std::vector<std::string> audiences;         ///< accepted: `aud` must contain one of them
    std::vector<std::string> trusted_audiences; ///< id_token: further audiences allowed in `aud`
    std::vector<alg> algorithms{alg::RS256};    ///< allowlist for the header `alg`
    std::chrono::seconds leeway{60};            ///< clock skew allowed on exp, nbf, iat
    std::function<std::chrono::system_clock::time_point()> clock; ///< empty: system_clock::now
    bool require_exp = true;
    bool require_iat = false;
    bool require_sub = false;
    std::optional<std::string> nonce; ///< when set, `nonce` must be present and equal
    /// The max_age of the authentication request (OpenID Connect Core 3.1.2.1, 3.1.3.7 #13):
    /// when set, `auth_time` is required (auth_time_missing) and the token is refused with
    /// auth_too_old when now > auth_time + max_age + leeway (the user must log in again).
    std::optional<std::chrono::seconds> max_age;
    /// `auth_time` required (auth_time_missing), as for a client registered with
    /// require_auth_time (OpenID Connect Dynamic Client Registration 2).
    bool require_auth_time = false;
    std::string access_token; ///< when non-empty, `at_hash` must be present and match
    std::string code;         ///< when non-empty, `c_hash` must be present and match
    /// Expected header `typ`, compared case-insensitively with or without an "application/"
    /// prefix (RFC 7515 4.1.9). Empty: not checked (the access_token profile checks "at+jwt").
    std::string typ;
    profile kind = profile::jwt;
    std::string client_id; ///< id_token: the client the token was issued to
    parse_options limits;  ///< token size bound
};

/// The left half of the hash of `value` with the hash function of `a`, base64url-encoded:
/// `at_hash` and `c_hash` (OpenID Connect Core 3.1.3.6, 3.3.2.11). EdDSA (Ed25519) uses
/// SHA-512. Errors: alg_unsupported for `none`, crypto_failure.
inline std::error_code half_hash(alg a, std::string_view value, std::string& out) {
    const EVP_MD* md = nullptr;
    switch (a) {
    case alg::HS256:
    case alg::RS256:
    case alg::PS256:
    case alg::ES256:
        md = EVP_sha256();
        break;
    case alg::HS384:
    case alg::RS384:
    case alg::PS384:
    case alg::ES384:
        md = EVP_sha384();
        break;
    case alg::HS512:
    case alg::RS512:
    case alg::PS512:
    case alg::ES512:
    case alg::EdDSA:
        md = EVP_sha512();
        break;
    case alg::none:
        return errc::alg_unsupported;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(value.data(), value.size(), digest, &len, md, nullptr) != 1)
        return errc::crypto_failure;
    out.clear();
    base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), len / 2), out);
    return {};
}

namespace detail {

inline char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return true;
}

/// A media type without its "application/" prefix (RFC 7515 4.1.9).
inline std::string_view strip_application(std::string_view t) noexcept {
    constexpr std::string_view prefix = "application/";
    if (t.size() >= prefix.size() && iequals(t.substr(0, prefix.size()), prefix))
        t.remove_prefix(prefix.size());
    return t;
}

inline bool contains(const std::vector<std::string>& v, std::string_view s) noexcept {
    for (const auto& x : v)
        if (x == s)
            return true;
    return false;
}

inline double now_seconds(const validation_options& opt) {
    auto tp = opt.clock ? opt.clock() : std::chrono::system_clock::now();
    return std::chrono::duration<double>(tp.time_since_epoch()).count();
}

} // namespace detail

/// Checks the header `typ` against `opt.typ` (or "at+jwt" for the access_token profile).
/// Error: typ_mismatch (also when `typ` is absent but expected).
inline std::error_code check_typ(std::string_view header_typ, const validation_options& opt) {
    std::string_view want = opt.typ;
    if (want.empty() && opt.kind == validation_options::profile::access_token)
        want = "at+jwt";
    if (want.empty())
        return {};
    if (!detail::iequals(detail::strip_application(header_typ), detail::strip_application(want)))
        return errc::typ_mismatch;
    return {};
}

/// The claim rules alone, for a token whose signature was verified with algorithm `a` (used
/// for at_hash / c_hash). The order of the checks, which decides the error reported when
/// several fail: iss, aud, azp, exp, nbf, iat, sub, nonce, auth_time, at_hash, c_hash.
/// Errors: claim_missing, issuer_mismatch, audience_mismatch, azp_mismatch, token_expired,
/// token_not_yet_valid, token_issued_in_future, nonce_mismatch, auth_time_missing (absent or
/// not an integer while max_age or require_auth_time), auth_too_old, at_hash_mismatch,
/// c_hash_mismatch (a missing nonce / azp / at_hash / c_hash that was expected reports the
/// mismatch code).
inline std::error_code check_claims(const claims& c, alg a, const validation_options& opt) {
    using k = claims::known;
    const bool id_token = opt.kind == validation_options::profile::id_token;

    // iss (RFC 7519 4.1.1; OIDC 3.1.3.7 #2): exact, and an empty expected issuer matches nothing.
    if (!c.has(k::k_iss))
        return errc::claim_missing;
    if (opt.issuer.empty() || c.iss() != opt.issuer)
        return errc::issuer_mismatch;

    // aud (RFC 7519 4.1.3; OIDC 3.1.3.7 #3)
    if (!c.has(k::k_aud))
        return errc::claim_missing;
    const std::size_t n_aud = c.aud_count();
    bool found = false;
    if (id_token && opt.audiences.empty()) {
        for (std::size_t i = 0; i < n_aud && !found; ++i)
            found = !opt.client_id.empty() && c.aud_at(i) == opt.client_id;
    } else {
        for (std::size_t i = 0; i < n_aud && !found; ++i)
            found = detail::contains(opt.audiences, c.aud_at(i));
    }
    if (!found)
        return errc::audience_mismatch;
    if (id_token) {
        for (std::size_t i = 0; i < n_aud; ++i) {
            std::string_view x = c.aud_at(i);
            if (!(x == opt.client_id && !x.empty()) && !detail::contains(opt.audiences, x) &&
                !detail::contains(opt.trusted_audiences, x))
                return errc::audience_mismatch;
        }
        // azp (OIDC 3.1.3.7 #4 and #5, as clarified by errata set 2)
        if (c.has(k::k_azp)) {
            if (opt.client_id.empty() || c.azp() != opt.client_id)
                return errc::azp_mismatch;
        } else if (n_aud > 1) {
            return errc::azp_mismatch;
        }
    }

    // Time: valid while now < exp + leeway, from nbf - leeway, iat no later than now + leeway.
    const double now = detail::now_seconds(opt);
    const double leeway = static_cast<double>(opt.leeway.count());
    if (auto exp = c.date_value(k::k_exp)) {
        if (!(now < *exp + leeway))
            return errc::token_expired;
    } else if (opt.require_exp || id_token) {
        return errc::claim_missing;
    }
    if (auto nbf = c.date_value(k::k_nbf)) {
        if (now + leeway < *nbf)
            return errc::token_not_yet_valid;
    }
    if (auto iat = c.date_value(k::k_iat)) {
        if (*iat > now + leeway)
            return errc::token_issued_in_future;
    } else if (opt.require_iat || id_token) {
        return errc::claim_missing;
    }

    if (!c.has(k::k_sub) && (opt.require_sub || id_token))
        return errc::claim_missing;

    if (opt.nonce && (!c.has(k::k_nonce) || c.nonce() != *opt.nonce))
        return errc::nonce_mismatch;

    // auth_time (OIDC 3.1.3.7 #13, 2: an integer NumericDate when requested).
    if (opt.max_age || opt.require_auth_time) {
        const auto at = c.date_value(k::k_auth_time);
        if (!at || std::floor(*at) != *at)
            return errc::auth_time_missing;
        if (opt.max_age && now > *at + static_cast<double>(opt.max_age->count()) + leeway)
            return errc::auth_too_old;
    }

    if (!opt.access_token.empty() || !opt.code.empty()) {
        std::string h;
        if (!opt.access_token.empty()) {
            if (!c.has(k::k_at_hash))
                return errc::at_hash_mismatch;
            if (auto ec = half_hash(a, opt.access_token, h))
                return ec;
            if (h != c.at_hash())
                return errc::at_hash_mismatch;
        }
        if (!opt.code.empty()) {
            if (!c.has(k::k_c_hash))
                return errc::c_hash_mismatch;
            if (auto ec = half_hash(a, opt.code, h))
                return ec;
            if (h != c.c_hash())
                return errc::c_hash_mismatch;
        }
    }
    return {};
}

namespace detail {

/// The members of a simple protected header.
struct simple_header {
    std::string_view alg, kid, typ;
};

/// A protected header that validate() read before: its exact base64url text, its decoded
/// JSON (which `h` refers into) and the algorithm it names.
struct cached_header {
    std::string b64, json;
    simple_header h;
    alg a = alg::none;
};

/// Per-thread buffers of validate(), and the last few simple headers it read: tokens of one
/// issuer share one header, so a token whose header segment equals a cached one byte for byte
/// skips decoding and reading it (same bytes, same result).
struct validate_state {
    static constexpr std::size_t header_slots = 4;
    static constexpr std::size_t max_cached_header = 512; ///< longer segments are not cached
    std::string payload, signature;
    std::array<cached_header, header_slots> headers;
    cached_header uncached;      ///< a header segment longer than max_cached_header
    std::size_t next_header = 0; ///< the slot replaced next (round robin)
};

inline validate_state& validate_buffers() {
    thread_local validate_state s;
    return s;
}

/// Reads a protected header of the common shape: a JSON object (whitespace allowed) whose
/// members are alg (required), kid, typ and cty, each at most once, each a string without
/// escape, control or non-ASCII byte. False for anything else - including texts that are
/// valid JSON, such as an escaped string, another member or a duplicate - which the general
/// path (jws::parse) then reads, accepts or refuses with its own error.
inline bool read_simple_header(std::string_view text, simple_header& out) noexcept {
    const char* p = text.data();
    const char* const e = p + text.size();
    auto ws = [&] {
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            ++p;
    };
    auto str = [&](std::string_view& v) {
        if (p >= e || *p != '"')
            return false;
        const char* const start = ++p;
        for (; p < e; ++p) {
            const auto c = static_cast<unsigned char>(*p);
            if (c == '"') {
                v = std::string_view(start, static_cast<std::size_t>(p - start));
                ++p;
                return true;
            }
            if (c < 0x20 || c >= 0x80 || c == '\\')
                return false;
        }
        return false;
    };
    ws();
    if (p >= e || *p != '{')
        return false;
    ++p;
    unsigned seen = 0;
    for (;;) {
        ws();
        std::string_view name, value;
        if (!str(name))
            return false;
        ws();
        if (p >= e || *p != ':')
            return false;
        ++p;
        ws();
        if (!str(value))
            return false;
        unsigned bit = 0;
        if (name == "alg") {
            bit = 1;
            out.alg = value;
        } else if (name == "kid") {
            bit = 2;
            out.kid = value;
        } else if (name == "typ") {
            bit = 4;
            out.typ = value;
        } else if (name == "cty") {
            bit = 8;
        } else {
            return false;
        }
        if (seen & bit)
            return false;
        seen |= bit;
        ws();
        if (p < e && *p == ',') {
            ++p;
            continue;
        }
        if (p < e && *p == '}')
            break;
        return false;
    }
    ++p;
    ws();
    return p == e && (seen & 1) != 0;
}

/// token.rfind('.'), with glibc's vectorised memrchr where there is one.
inline std::size_t last_dot(std::string_view token) noexcept {
#if defined(__GLIBC__)
    const void* q = ::memrchr(token.data(), '.', token.size());
    return q ? static_cast<std::size_t>(static_cast<const char*>(q) - token.data())
             : std::string_view::npos;
#else
    return token.rfind('.');
#endif
}

/// The simple header (read_simple_header, with an algorithm other than none) whose base64url
/// text is `seg`, from the thread's cache or read now and cached; null when `seg` is not such
/// a header (bad base64url, not simple, alg none or unknown).
inline const cached_header* simple_header_of(validate_state& st, std::string_view seg) {
    for (const cached_header& c : st.headers)
        if (c.b64.size() == seg.size() && !c.b64.empty() &&
            std::memcmp(c.b64.data(), seg.data(), seg.size()) == 0)
            return &c;
    const bool keep = seg.size() <= validate_state::max_cached_header;
    cached_header& c = keep ? st.headers[st.next_header] : st.uncached;
    c.b64.clear(); // the slot is invalid until this header proves simple
    c.h = simple_header{};
    if (base64url_decode(seg, c.json) || !read_simple_header(c.json, c.h))
        return nullptr;
    const auto a = alg_from_string(c.h.alg);
    if (!a || *a == alg::none)
        return nullptr;
    c.a = *a;
    if (keep) {
        c.b64.assign(seg.data(), seg.size());
        st.next_header = (st.next_header + 1) % validate_state::header_slots;
    }
    return &c;
}

#if OIDC_LOW_LEVEL_SHA
/// The end of validate_common() for HS256 with a key schedule, the key and the signature size
/// checked: what verify() does, with the MAC computed along the claims read. The hash of the
/// signing input is a chain of dependent SHA-256 instructions that leaves most of the core
/// idle, so one 64-byte block is hashed per top-level member and runs beside the reader's
/// work for that member (out-of-order execution overlaps the two). The claims
/// are read but not looked at before the MAC is checked; the errors are those of the
/// sequential order (MAC, typ, the read, the claim rules). False when the payload does not
/// decode (the general path reports it).
inline bool validate_hs256(const hmac_pads& pads, std::string_view token, std::size_t d1,
                           std::size_t d2, const simple_header& h, const validation_options& opt,
                           claims& out, std::error_code& ec) {
    validate_state& st = validate_buffers();
    hmac_sha256_steps mac(pads, token.substr(0, d2));
    if (base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), st.payload))
        return false;
    // One block before the first member and after each top-level member (the reader's
    // work for a member is about what runs beside one block); what is left after the read
    // is hashed at the end.
    const std::error_code parsed = detail::claims_paced_read::parse_swap(
        st.payload, out,
        [](void* m, std::size_t) noexcept -> std::size_t {
            return static_cast<hmac_sha256_steps*>(m)->advance_block() ? 0 : SIZE_MAX;
        },
        &mac);
    if (!mac.finish_equals(st.signature))
        ec = errc::signature_invalid;
    else if (!(ec = check_typ(h.typ, opt)) && !(ec = parsed))
        ec = check_claims(out, alg::HS256, opt);
    if (ec)
        out.clear();
    return true;
}
#endif

/// The common case of validate() without building a jws: a compact token whose protected
/// header holds only string members alg, kid, typ and cty (Keycloak, oidc-provider, Auth0,
/// Entra ID ...; see read_simple_header). Anything else - a parse error, another header member
/// (crit, b64, jku ...), a member of another type, alg none or unknown - returns false, and
/// validate() takes the general path through jws::parse, which reports the error or handles
/// the member.
inline bool validate_common(std::string_view token, const jwk_set& keys,
                            const validation_options& opt, claims& out, std::error_code& ec) {
    // A third dot would be in the payload, which then fails to decode ('.' is outside the
    // base64url alphabet): the general path reports it.
    const std::size_t d1 = token.find('.');
    if (d1 == std::string_view::npos || d1 == 0)
        return false;
    const std::size_t d2 = last_dot(token);
    if (d2 == d1)
        return false;
    validate_state& st = validate_buffers();
    const cached_header* ch = simple_header_of(st, token.substr(0, d1));
    if (!ch)
        return false;
    const simple_header& h = ch->h;
    const alg a = ch->a;
    const std::string_view payload = token.substr(d1 + 1, d2 - d1 - 1);
    if (base64url_decode(token.substr(d2 + 1), st.signature))
        return false;
    // What verify_signature() does for a parsed jws, once the payload has decoded (a payload
    // that does not decode goes to the general path, whatever else is wrong).
    const bool allowed =
        std::find(opt.algorithms.begin(), opt.algorithms.end(), a) != opt.algorithms.end();
    const jwk* key = allowed ? keys.select(h.kid, a) : nullptr;
#if OIDC_LOW_LEVEL_SHA
    if (key && a == alg::HS256 && st.signature.size() == 32 &&
        !check_key(key->impl(), a, key_op::verify)) {
        if (const hmac_pads* pads = key->impl().pads_for(oidc::detail::ossl::hash::sha256))
            return validate_hs256(*pads, token, d1, d2, h, opt, out, ec);
    }
#endif
    if (base64url_decode(payload, st.payload))
        return false;
    if (!allowed) {
        ec = errc::alg_not_allowed;
        return true;
    }
    if (!key) {
        ec = errc::key_not_found;
        return true;
    }
    if ((ec = verify(a, *key, token.substr(0, d2), st.signature)))
        return true;
    if ((ec = check_typ(h.typ, opt)))
        return true;
    if ((ec = claims::parse_swap(st.payload, out)))
        return true;
    if ((ec = check_claims(out, a, opt)))
        out.clear();
    return true;
}

} // namespace detail

/// Validates a compact JWS JWT: size bound, JWS parse (header rules of jws::parse), the
/// signature with a key of `keys` and an algorithm of `opt.algorithms` (verify_signature),
/// the header `typ` (check_typ), the claims (claims::parse, strict JSON) and the claim rules
/// (check_claims). The signature is checked before any claim is looked at.
///
/// On success `out` holds the claims; on error it is empty. Errors: those of jws::parse,
/// verify_signature, check_typ, claims::parse and check_claims; input_too_large. Messages
/// never contain the token. Thread safety: safe to call concurrently (per-thread buffers).
/// Cost: one pass per part; tokens whose header holds only alg/kid/typ/cty take a path that
/// builds no jws object (same rules and errors, see detail::validate_common), and each thread
/// keeps the last 4 such headers it read (a header byte for byte equal is not read again).
/// With HS256 the claims are read while the MAC is computed (detail::validate_hs256): they are
/// looked at only once the MAC matched, and the error reported is the same.
inline std::error_code validate(std::string_view token, const jwk_set& keys,
                                const validation_options& opt, claims& out) {
    out.clear();
    if (token.size() > opt.limits.max_token_bytes)
        return errc::input_too_large;
    std::error_code ec;
    if (detail::validate_common(token, keys, opt, out, ec))
        return ec;
    thread_local jws parsed; // buffers reused by every call on this thread
    if ((ec = jws::parse(token, parsed, opt.limits)))
        return ec;
    if ((ec = verify_signature(parsed, keys, std::span<const alg>(opt.algorithms))))
        return ec;
    if ((ec = check_typ(parsed.header().typ, opt)))
        return ec;
    if ((ec = claims::parse(parsed.payload(), out)))
        return ec;
    if ((ec = check_claims(out, parsed.header().algorithm, opt)))
        out.clear();
    return ec;
}

} // namespace oidc::jose
