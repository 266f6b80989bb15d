// asio-oidc: JWS compact serialization (RFC 7515): parse, verify, sign.
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/detail/openssl.hpp>
#include <oidc/error.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/base64url.hpp>
#include <oidc/jose/jwk.hpp>

#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace oidc::jose {

struct parse_options {
    std::size_t max_token_bytes = 16 * 1024;
};

/// The protected header members this library reads. jku, x5u, x5c and jwk are ignored:
/// the caller's key set alone decides which key verifies a token.
struct jws_header {
    alg algorithm = alg::none;
    std::string kid, typ, cty;
    std::vector<std::string> crit;
};

/// A parsed compact JWS. Parsing checks the form only; verify_signature() checks the signature.
class jws {
public:
    /// Parses `compact` (RFC 7515 7.1). Errors: input_too_large, jws_malformed (not three
    /// parts, bad base64url, header not a JSON object, a header member of the wrong type),
    /// json_duplicate_member, alg_none, alg_unsupported, b64_unsupported (RFC 7797
    /// "b64":false), crit_unsupported (any "crit": no extension is understood).
    static std::error_code parse(std::string_view compact, jws& out, const parse_options& = {});

    const jws_header& header() const noexcept { return header_; }
    /// "BASE64URL(header).BASE64URL(payload)": the bytes the signature covers.
    std::string_view signing_input() const noexcept {
        return std::string_view(token_).substr(0, signing_input_size_);
    }
    /// The protected header JSON text (decoded).
    std::string_view header_json() const noexcept { return header_json_; }
    std::string_view payload() const noexcept { return payload_; }
    std::string_view signature() const noexcept { return signature_; }

private:
    std::error_code parse_impl(std::string_view compact, const parse_options& opt);

    jws_header header_;
    std::string token_;
    std::size_t signing_input_size_ = 0;
    std::string header_json_;
    std::string payload_;
    std::string signature_;
};

namespace detail {

// Group orders, big-endian, for the ECDSA range check 0 < r, s < n.
inline constexpr unsigned char p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
inline constexpr unsigned char p384_order[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};
inline constexpr unsigned char p521_order[66] = {
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b,
    0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c,
    0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09};

inline const unsigned char* ec_order(std::size_t coord) noexcept {
    return coord == 32 ? p256_order : coord == 48 ? p384_order : p521_order;
}

/// 0 < v < order, both big-endian of `n` bytes.
inline bool in_range(const unsigned char* v, const unsigned char* order, std::size_t n) noexcept {
    bool nonzero = false;
    for (std::size_t i = 0; i < n; ++i)
        nonzero |= v[i] != 0;
    return nonzero && std::memcmp(v, order, n) < 0;
}

/// DER INTEGER of the big-endian unsigned `v` (n bytes) appended at `o`; returns the end.
inline unsigned char* der_integer(unsigned char* o, const unsigned char* v, std::size_t n) {
    while (n > 1 && *v == 0) {
        ++v;
        --n;
    }
    const bool pad = (*v & 0x80) != 0;
    *o++ = 0x02;
    *o++ = static_cast<unsigned char>(n + pad);
    if (pad)
        *o++ = 0;
    std::memcpy(o, v, n);
    return o + n;
}

/// r||s (P1363) -> DER ECDSA-Sig-Value into `buf` (at least 2 * coord + 12 bytes).
inline std::size_t p1363_to_der(const unsigned char* sig, std::size_t coord, unsigned char* buf) {
    unsigned char body[2 * (66 + 3)];
    unsigned char* e = der_integer(body, sig, coord);
    e = der_integer(e, sig + coord, coord);
    const auto len = static_cast<std::size_t>(e - body);
    unsigned char* o = buf;
    *o++ = 0x30;
    if (len >= 0x80)
        *o++ = 0x81;
    *o++ = static_cast<unsigned char>(len);
    std::memcpy(o, body, len);
    return static_cast<std::size_t>(o - buf) + len;
}

inline std::error_code digest(EVP_MD_CTX* mctx, const EVP_MD* md, std::string_view in,
                              unsigned char* out, unsigned int& len) noexcept {
    if (EVP_DigestInit_ex2(mctx, md, nullptr) != 1 ||
        EVP_DigestUpdate(mctx, in.data(), in.size()) != 1 ||
        EVP_DigestFinal_ex(mctx, out, &len) != 1)
        return errc::crypto_failure;
    return {};
}

inline std::unique_ptr<verify_ctx> make_pkey_verify_ctx(const key_data& k, alg a) {
    auto c = std::make_unique<verify_ctx>();
    c->mctx.reset(EVP_MD_CTX_new());
    if (!c->mctx)
        return nullptr;
    if (a == alg::EdDSA)
        return c;
    c->pctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, k.pkey.get(), nullptr));
    if (!c->pctx || EVP_PKEY_verify_init(c->pctx.get()) != 1)
        return nullptr;
    const EVP_MD* md = ossl::fetched_md(requirement(a).h);
    if (is_rsa(a)) {
        const bool pss = a >= alg::PS256;
        if (EVP_PKEY_CTX_set_rsa_padding(c->pctx.get(),
                                         pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) != 1)
            return nullptr;
        if (EVP_PKEY_CTX_set_signature_md(c->pctx.get(), md) != 1)
            return nullptr;
        if (pss && (EVP_PKEY_CTX_set_rsa_pss_saltlen(c->pctx.get(), RSA_PSS_SALTLEN_DIGEST) != 1 ||
                    EVP_PKEY_CTX_set_rsa_mgf1_md(c->pctx.get(), md) != 1))
            return nullptr;
    } else if (EVP_PKEY_CTX_set_signature_md(c->pctx.get(), md) != 1) {
        return nullptr;
    }
    return c;
}

inline std::error_code verify_hmac(const key_data& k, alg a, std::string_view input,
                                   std::string_view sig) {
    const ossl::hash h = requirement(a).h;
    const std::size_t hs = ossl::hash_size(h);
    if (sig.size() != hs)
        return errc::signature_invalid;
#if OIDC_LOW_LEVEL_SHA
    if (const hmac_pads* pads = k.pads_for(h)) {
        unsigned char mac[64];
        pads->compute(reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac);
        const bool ok = CRYPTO_memcmp(mac, sig.data(), hs) == 0;
        OPENSSL_cleanse(mac, sizeof mac);
        return ok ? std::error_code() : std::error_code(errc::signature_invalid);
    }
#endif
    std::unique_ptr<verify_ctx> c = k.take(a);
    if (c) {
        if (EVP_MAC_init(c->mac.get(), nullptr, 0, nullptr) != 1)
            c.reset();
    }
    if (!c) {
        c = std::make_unique<verify_ctx>();
        c->mac.reset(EVP_MAC_CTX_new(ossl::fetched_hmac()));
        if (!c->mac)
            return errc::crypto_failure;
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                             const_cast<char*>(ossl::hash_name(h)), 0),
            OSSL_PARAM_construct_end()};
        if (EVP_MAC_init(c->mac.get(), reinterpret_cast<const unsigned char*>(k.secret.data()),
                         k.secret.size(), params) != 1)
            return ossl::clear_errors(), errc::crypto_failure;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    if (EVP_MAC_update(c->mac.get(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) != 1 ||
        EVP_MAC_final(c->mac.get(), mac, &len, sizeof mac) != 1 || len != hs)
        return ossl::clear_errors(), errc::crypto_failure;
    k.give(a, std::move(c));
    const bool ok = CRYPTO_memcmp(mac, sig.data(), hs) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    return ok ? std::error_code() : std::error_code(errc::signature_invalid);
}

inline std::error_code verify_pkey(const key_data& k, alg a, std::string_view input,
                                   std::string_view sig) {
    const auto* s = reinterpret_cast<const unsigned char*>(sig.data());
    unsigned char der[2 * 66 + 16];
    std::size_t der_len = 0;
    if (is_rsa(a)) {
        if (sig.size() != static_cast<std::size_t>(EVP_PKEY_get_size(k.pkey.get())))
            return errc::signature_invalid;
    } else if (is_ecdsa(a)) {
        // P1363 r||s of exactly 2 * n bytes, 0 < r, s < order (RFC 7518 3.4); never DER.
        if (sig.size() != 2 * k.coord)
            return errc::signature_invalid;
        const unsigned char* order = ec_order(k.coord);
        if (!in_range(s, order, k.coord) || !in_range(s + k.coord, order, k.coord))
            return errc::signature_invalid;
        der_len = p1363_to_der(s, k.coord, der);
    } else if (sig.size() != 64) {
        return errc::signature_invalid;
    }
    std::unique_ptr<verify_ctx> c = k.take(a);
    if (!c) {
        c = make_pkey_verify_ctx(k, a);
        if (!c)
            return ossl::clear_errors(), errc::crypto_failure;
    }
    int r = 0;
    if (a == alg::EdDSA) {
        if (EVP_DigestVerifyInit_ex(c->mctx.get(), nullptr, nullptr, nullptr, nullptr, k.pkey.get(),
                                    nullptr) != 1)
            return ossl::clear_errors(), errc::crypto_failure;
        r = EVP_DigestVerify(c->mctx.get(), s, sig.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size());
    } else {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        if (auto ec = digest(c->mctx.get(), ossl::fetched_md(requirement(a).h), input, md, md_len))
            return ossl::clear_errors(), ec;
        if (is_ecdsa(a))
            r = EVP_PKEY_verify(c->pctx.get(), der, der_len, md, md_len);
        else
            r = EVP_PKEY_verify(c->pctx.get(), s, sig.size(), md, md_len);
    }
    if (r == 1) {
        k.give(a, std::move(c));
        return {};
    }
    // A failed verification may leave an error on the queue; the context is rebuilt next time.
    ossl::clear_errors();
    return errc::signature_invalid;
}

inline std::error_code sign_pkey(const key_data& k, alg a, std::string_view input,
                                 std::string& out) {
    ossl::md_ctx_ptr mctx(EVP_MD_CTX_new());
    if (!mctx)
        return errc::crypto_failure;
    EVP_PKEY_CTX* pctx = nullptr;
    const char* mdname = a == alg::EdDSA ? nullptr : ossl::hash_name(requirement(a).h);
    if (EVP_DigestSignInit_ex(mctx.get(), &pctx, mdname, nullptr, nullptr, k.pkey.get(), nullptr) !=
        1)
        return errc::crypto_failure;
    if (a >= alg::PS256 && a <= alg::PS512) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            return errc::crypto_failure;
    } else if (is_rsa(a) && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        return errc::crypto_failure;
    }
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    std::size_t len = 0;
    if (EVP_DigestSign(mctx.get(), nullptr, &len, in, input.size()) != 1)
        return errc::crypto_failure;
    std::string buf(len, '\0');
    if (EVP_DigestSign(mctx.get(), reinterpret_cast<unsigned char*>(buf.data()), &len, in,
                       input.size()) != 1)
        return errc::crypto_failure;
    buf.resize(len);
    if (!is_ecdsa(a)) {
        out = std::move(buf);
        return {};
    }
    // DER -> P1363 r||s, each left-padded to the field size.
    const auto* p = reinterpret_cast<const unsigned char*>(buf.data());
    std::unique_ptr<ECDSA_SIG, ossl::deleter<ECDSA_SIG_free>> es(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(buf.size())));
    if (!es)
        return errc::crypto_failure;
    out.assign(2 * k.coord, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), o, static_cast<int>(k.coord)) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), o + k.coord, static_cast<int>(k.coord)) < 0)
        return errc::crypto_failure;
    return {};
}

} // namespace detail

/// Checks one signature (the step alone, no header processing): HS256/384/512 (full-length
/// MAC, constant-time compare), RS256/384/512 (PKCS#1 v1.5), PS256/384/512 (salt = hash
/// length, MGF1 with the same hash), ES256/384/512 (P1363 r||s of exactly 2*n bytes with
/// 0 < r, s < order; DER refused), EdDSA (Ed25519). Errors: alg_none, alg_key_mismatch
/// (kty/crv/"alg" of the key), key_unusable ("use"/"key_ops"), jwk_key_too_small (HMAC key
/// shorter than the hash), signature_invalid, crypto_failure. Thread safe.
inline std::error_code verify(alg a, const jwk& key, std::string_view signing_input,
                              std::string_view signature) {
    const detail::key_data& k = key.impl();
    if (auto ec = detail::check_key(k, a, detail::key_op::verify))
        return ec;
    if (is_hmac(a))
        return detail::verify_hmac(k, a, signing_input, signature);
    return detail::verify_pkey(k, a, signing_input, signature);
}

/// Signs `signing_input` with a private key (or an oct key for HS*). Errors as verify(), and
/// key_unusable for a public-only key. ES signatures are produced in P1363 form.
inline std::error_code sign(alg a, const jwk& private_key, std::string_view signing_input,
                            std::string& signature_out) {
    const detail::key_data& k = private_key.impl();
    if (auto ec = detail::check_key(k, a, detail::key_op::sign))
        return ec;
    std::error_code ec;
    if (is_hmac(a)) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        std::size_t len = 0;
        const char* md = oidc::detail::ossl::hash_name(detail::requirement(a).h);
        if (!EVP_Q_mac(nullptr, "HMAC", nullptr, md, nullptr, k.secret.data(), k.secret.size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size(), mac, sizeof mac, &len))
            ec = errc::crypto_failure;
        else
            signature_out.assign(reinterpret_cast<const char*>(mac), len);
    } else {
        ec = detail::sign_pkey(k, a, signing_input, signature_out);
    }
    if (ec)
        oidc::detail::ossl::clear_errors();
    return ec;
}

/// Whole-token signature check: the token's alg must be in `allowed` (alg_not_allowed) and
/// never none (alg_none); the key is keys.select(kid, alg) (key_not_found); then verify().
/// Header keys (jku, x5u, x5c, jwk) are never used. `used`, when given, receives the key.
inline std::error_code verify_signature(const jws& token, const jwk_set& keys,
                                        std::span<const alg> allowed, const jwk** used = nullptr) {
    const alg a = token.header().algorithm;
    if (a == alg::none)
        return errc::alg_none;
    if (std::find(allowed.begin(), allowed.end(), a) == allowed.end())
        return errc::alg_not_allowed;
    const jwk* k = keys.select(token.header().kid, a);
    if (!k)
        return errc::key_not_found;
    if (used)
        *used = k;
    return verify(a, *k, token.signing_input(), token.signature());
}

/// Signs a compact JWS: header {"alg":..,"typ":..(when given),"kid":..(the key's, when
/// non-empty)} plus `extra_members` (raw JSON members without braces, e.g. `"cty":"JWT"`,
/// trusted caller text), payload bytes as given.
inline std::error_code sign_compact(alg a, const jwk& private_key, std::string_view payload,
                                    std::string& out, std::string_view typ = {},
                                    std::string_view extra_members = {}) {
    namespace json = oidc::detail::json;
    if (a == alg::none)
        return errc::alg_none;
    std::string header = "{\"alg\":\"";
    header += to_string(a);
    header += "\"";
    if (!typ.empty()) {
        header += ",\"typ\":";
        json::append_escaped(header, typ);
    }
    if (!private_key.kid().empty()) {
        header += ",\"kid\":";
        json::append_escaped(header, private_key.kid());
    }
    if (!extra_members.empty()) {
        header += ",";
        header += extra_members;
    }
    header += "}";
    std::string token;
    token.reserve(base64url_encoded_size(header.size()) + base64url_encoded_size(payload.size()) +
                  700);
    base64url_encode(header, token);
    token.push_back('.');
    base64url_encode(payload, token);
    std::string sig;
    if (auto ec = sign(a, private_key, token, sig))
        return ec;
    token.push_back('.');
    base64url_encode(sig, token);
    out = std::move(token);
    return {};
}

namespace detail {

/// No duplicate member names at any depth (json_duplicate_member), bounded depth
/// (jws_malformed).
inline std::error_code dom_strict(simdjson::dom::element e, int depth) noexcept {
    if (depth > 8)
        return errc::jws_malformed;
    if (e.type() == simdjson::dom::element_type::OBJECT) {
        simdjson::dom::object o = e.get_object().value_unsafe();
        for (auto it = o.begin(); it != o.end(); ++it) {
            for (auto jt = o.begin(); jt != it; ++jt)
                if (jt.key() == it.key())
                    return errc::json_duplicate_member;
            if (auto ec = dom_strict(it.value(), depth + 1))
                return ec;
        }
    } else if (e.type() == simdjson::dom::element_type::ARRAY) {
        simdjson::dom::array a = e.get_array().value_unsafe();
        for (auto item : a)
            if (auto ec = dom_strict(item, depth + 1))
                return ec;
    }
    return {};
}

/// Reads the protected header straight from simdjson's DOM (no owned tree): the members this
/// library acts on, and the checks of jws::parse.
inline std::error_code read_header(std::string_view text, jws_header& h) {
    auto& st = oidc::detail::json::impl::state();
    st.buffer.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    st.buffer.assign(text.data(), text.size());
    simdjson::dom::element root;
    if (st.parser.parse(st.buffer.data(), text.size(), false).get(root) ||
        root.type() != simdjson::dom::element_type::OBJECT)
        return errc::jws_malformed;
    simdjson::dom::object o = root.get_object().value_unsafe();
    // Duplicate names first: {"alg":"HS256","alg":"none"} must never be read either way.
    if (auto ec = dom_strict(root, 1))
        return ec;
    h.algorithm = alg::none;
    h.kid.clear();
    h.typ.clear();
    h.cty.clear();
    h.crit.clear();
    bool have_alg = false, b64_false = false;
    simdjson::dom::element crit;
    bool have_crit = false;
    for (auto field : o) {
        const std::string_view k = field.key;
        auto str = [&](std::string& dst) -> bool {
            std::string_view v;
            if (field.value.get_string().get(v))
                return false;
            dst.assign(v.data(), v.size());
            return true;
        };
        if (k == "alg") {
            std::string_view v;
            if (field.value.get_string().get(v))
                return errc::jws_malformed;
            auto a = alg_from_string(v);
            if (!a)
                return errc::alg_unsupported;
            h.algorithm = *a;
            have_alg = true;
        } else if (k == "kid") {
            if (!str(h.kid))
                return errc::jws_malformed;
        } else if (k == "typ") {
            if (!str(h.typ))
                return errc::jws_malformed;
        } else if (k == "cty") {
            if (!str(h.cty))
                return errc::jws_malformed;
        } else if (k == "b64") {
            bool b = true;
            if (field.value.get_bool().get(b))
                return errc::jws_malformed;
            b64_false = !b;
        } else if (k == "crit") {
            crit = field.value;
            have_crit = true;
        }
    }
    if (!have_alg)
        return errc::jws_malformed;
    if (h.algorithm == alg::none)
        return errc::alg_none;
    if (b64_false)
        return errc::b64_unsupported;
    if (have_crit) {
        // RFC 7515 4.1.11: a non-empty array of names; we understand no extension.
        simdjson::dom::array arr;
        if (crit.get_array().get(arr) || arr.size() == 0)
            return errc::jws_malformed;
        for (auto c : arr) {
            std::string_view v;
            if (c.get_string().get(v) || v.empty())
                return errc::jws_malformed;
            h.crit.emplace_back(v);
        }
        return errc::crit_unsupported;
    }
    return {};
}

} // namespace detail

inline std::error_code jws::parse(std::string_view compact, jws& out, const parse_options& opt) {
    auto ec = out.parse_impl(compact, opt);
    if (ec) {
        out.header_ = jws_header{};
        out.token_.clear();
        out.signing_input_size_ = 0;
        out.header_json_.clear();
        out.payload_.clear();
        out.signature_.clear();
    }
    return ec;
}

inline std::error_code jws::parse_impl(std::string_view compact, const parse_options& opt) {
    if (compact.size() > opt.max_token_bytes)
        return errc::input_too_large;
    const std::size_t d1 = compact.find('.');
    if (d1 == std::string_view::npos)
        return errc::jws_malformed;
    const std::size_t d2 = compact.find('.', d1 + 1);
    if (d2 == std::string_view::npos || compact.find('.', d2 + 1) != std::string_view::npos)
        return errc::jws_malformed;
    if (d1 == 0)
        return errc::jws_malformed;
    if (base64url_decode(compact.substr(0, d1), header_json_) ||
        base64url_decode(compact.substr(d1 + 1, d2 - d1 - 1), payload_) ||
        base64url_decode(compact.substr(d2 + 1), signature_))
        return errc::jws_malformed;

    if (auto ec = detail::read_header(header_json_, header_))
        return ec;
    token_.assign(compact.data(), compact.size());
    signing_input_size_ = d2;
    return {};
}

} // namespace oidc::jose
