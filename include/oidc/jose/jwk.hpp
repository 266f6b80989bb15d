// asio-oidc: JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) and the RFC 7638 thumbprint.
// Keys are imported straight from the JWK members with EVP_PKEY_fromdata: no PEM or DER on any
// path. A jwk is immutable and cheap to copy: copies share one OpenSSL key and its caches.
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/detail/openssl.hpp>
#include <oidc/error.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/base64url.hpp>

#include <openssl/ec.h>
#include <openssl/rsa.h>

// HMAC on SHA-2 states that absorbed key^ipad / key^opad once (RFC 2104 2): OpenSSL 3.0's
// low-level SHA API (deprecated, not removed) copies such a state with a plain struct copy,
// where EVP_MD_CTX_copy_ex allocates a provider context per copy. Off when OpenSSL is built or
// included without the 3.0 deprecated API, when OIDC_NO_LOW_LEVEL_SHA is defined, and at run
// time under FIPS default properties (then HMAC goes through EVP_MAC).
#if !defined(OPENSSL_NO_DEPRECATED_3_0) && !defined(OIDC_NO_LOW_LEVEL_SHA)
#include <openssl/sha.h>
#define OIDC_LOW_LEVEL_SHA 1
#else
#define OIDC_LOW_LEVEL_SHA 0
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace oidc::jose {

enum class key_type { rsa, ec, okp, oct };

class jwk;

namespace detail {

namespace ossl = oidc::detail::ossl;
namespace json = oidc::detail::json;

/// Per-key, per-algorithm verification state kept between calls (an initialized
/// EVP_PKEY_CTX, a digest context, an HMAC context), so a verify does no fetch, no key
/// setup and no allocation in the steady state.
struct verify_ctx {
    ossl::pkey_ctx_ptr pctx;
    ossl::md_ctx_ptr mctx;
    ossl::mac_ctx_ptr mac;
};

#if OIDC_LOW_LEVEL_SHA
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
/// Zeroes `n` bytes at `p` where the compiler cannot drop the stores (a memset it must assume
/// is read): OPENSSL_cleanse's effect, inlined, for small buffers on hot paths.
inline void wipe(void* p, std::size_t n) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    std::memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
#else
    OPENSSL_cleanse(p, n);
#endif
}

/// The HMAC key schedule of an oct key for one hash: the hash states after key^ipad and
/// key^opad (key material: cleansed on destruction, never copied out).
struct hmac_pads {
    ossl::hash h = ossl::hash::sha256;
    SHA256_CTX in256{}, out256{};
    SHA512_CTX in512{}, out512{};

    hmac_pads() = default;
    hmac_pads(const hmac_pads&) = delete;
    hmac_pads& operator=(const hmac_pads&) = delete;
    ~hmac_pads() { OPENSSL_cleanse(static_cast<void*>(this), sizeof *this); }

    /// The schedule of `key` (hashed first when longer than the block, RFC 2104 2), or null.
    static std::unique_ptr<hmac_pads> make(std::string_view key, ossl::hash h) {
        auto p = std::make_unique<hmac_pads>();
        p->h = h;
        const bool s256 = h == ossl::hash::sha256;
        const std::size_t block = s256 ? 64 : 128;
        unsigned char k[128] = {};
        bool ok = true;
        if (key.size() > block) {
            const auto* d = reinterpret_cast<const unsigned char*>(key.data());
            ok = (s256                      ? SHA256(d, key.size(), k)
                  : h == ossl::hash::sha384 ? SHA384(d, key.size(), k)
                                            : SHA512(d, key.size(), k)) != nullptr;
        } else {
            std::memcpy(k, key.data(), key.size());
        }
        unsigned char ipad[128], opad[128];
        for (std::size_t i = 0; i < block; ++i) {
            ipad[i] = static_cast<unsigned char>(k[i] ^ 0x36);
            opad[i] = static_cast<unsigned char>(k[i] ^ 0x5c);
        }
        if (s256)
            ok = ok && SHA256_Init(&p->in256) == 1 && SHA256_Update(&p->in256, ipad, block) == 1 &&
                 SHA256_Init(&p->out256) == 1 && SHA256_Update(&p->out256, opad, block) == 1;
        else if (h == ossl::hash::sha384)
            ok = ok && SHA384_Init(&p->in512) == 1 && SHA384_Update(&p->in512, ipad, block) == 1 &&
                 SHA384_Init(&p->out512) == 1 && SHA384_Update(&p->out512, opad, block) == 1;
        else
            ok = ok && SHA512_Init(&p->in512) == 1 && SHA512_Update(&p->in512, ipad, block) == 1 &&
                 SHA512_Init(&p->out512) == 1 && SHA512_Update(&p->out512, opad, block) == 1;
        OPENSSL_cleanse(k, sizeof k);
        OPENSSL_cleanse(ipad, sizeof ipad);
        OPENSSL_cleanse(opad, sizeof opad);
        return ok ? std::move(p) : nullptr;
    }

    /// The end of HMAC-SHA-256: `c`, an inner state (from in256) that absorbed the whole
    /// input, gives the MAC into `mac` (32 bytes); `c` then holds the outer state.
    void finish256(SHA256_CTX& c, unsigned char* mac) const noexcept {
        unsigned char inner[32];
        SHA256_Final(inner, &c);
        c = out256;
        SHA256_Update(&c, inner, sizeof inner);
        SHA256_Final(mac, &c);
        wipe(inner, sizeof inner);
    }

    /// HMAC(key, in) into `mac` (hash_size(h) bytes).
    void compute(const unsigned char* in, std::size_t n, unsigned char* mac) const noexcept {
        if (h == ossl::hash::sha256) {
            SHA256_CTX c = in256;
            SHA256_Update(&c, in, n);
            finish256(c, mac);
            OPENSSL_cleanse(&c, sizeof c);
            return;
        }
        SHA512_CTX c = in512;
        unsigned char inner[64];
        const bool s384 = h == ossl::hash::sha384;
        SHA512_Update(&c, in, n);
        s384 ? SHA384_Final(inner, &c) : SHA512_Final(inner, &c);
        c = out512;
        SHA512_Update(&c, inner, s384 ? 48 : 64);
        s384 ? SHA384_Final(mac, &c) : SHA512_Final(mac, &c);
        OPENSSL_cleanse(&c, sizeof c);
    }
};

/// HMAC-SHA-256 (a SHA-256 schedule of hmac_pads) over an input hashed in steps, so that other
/// work can run between the steps while the hash instructions are still in flight.
class hmac_sha256_steps {
public:
    hmac_sha256_steps(const hmac_pads& pads, std::string_view input) noexcept
        : pads_(pads), c_(pads.in256), in_(reinterpret_cast<const unsigned char*>(input.data())),
          len_(input.size()) {}
    hmac_sha256_steps(const hmac_sha256_steps&) = delete;
    hmac_sha256_steps& operator=(const hmac_sha256_steps&) = delete;
    ~hmac_sha256_steps() { wipe(&c_, sizeof c_); }

    /// Hashes the next 64-byte block of the input, if a whole one is left: SHA256_Transform,
    /// a third of SHA256_Update's cost for one block (the state holds no partial block, and
    /// the bit count is added in finish_equals).
    /// False when none was left.
    bool advance_block() noexcept {
        if (len_ - done_ < 64)
            return false;
        SHA256_Transform(&c_, in_ + done_);
        done_ += 64;
        return true;
    }
    /// Hashes the rest and compares the MAC with `mac` in constant time.
    bool finish_equals(std::string_view mac) noexcept {
        unsigned char out[32];
        // The bit count of the blocks given to SHA256_Transform, as SHA256_Update counts it.
        const auto bits = static_cast<SHA_LONG>(done_ << 3);
        c_.Nh += static_cast<SHA_LONG>(done_ >> 29) + (c_.Nl + bits < c_.Nl ? 1 : 0);
        c_.Nl += bits;
        SHA256_Update(&c_, in_ + done_, len_ - done_);
        done_ = len_;
        pads_.finish256(c_, out);
        const bool ok = mac.size() == sizeof out && CRYPTO_memcmp(out, mac.data(), sizeof out) == 0;
        wipe(out, sizeof out);
        return ok;
    }

private:
    const hmac_pads& pads_;
    SHA256_CTX c_;
    const unsigned char* in_;
    std::size_t len_;
    std::size_t done_ = 0;
};
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

/// The shared, immutable state of a key plus its lock-free verification cache: one cached
/// context per algorithm, taken with an atomic exchange and given back after use (threads
/// that find the slot empty build their own, and free it if the slot was refilled).
struct key_data {
    key_type kty = key_type::oct;
    ossl::pkey_ptr pkey;    ///< null for oct
    std::string secret;     ///< oct key bytes
    bool priv = false;      ///< private members present (always true for oct)
    std::size_t bits = 0;   ///< modulus / curve / secret size in bits
    std::size_t coord = 0;  ///< EC field element size in bytes
    std::string crv;        ///< "P-256", "Ed25519", ... (EC and OKP)
    std::string n, e, x, y; ///< public members, base64url as in the JWK
    std::string kid, use, alg_name;
    std::vector<std::string> key_ops;
    std::optional<alg> algorithm; ///< the "alg" member when it names a known JWS alg
    bool has_alg = false;         ///< an "alg" member is present (maybe unknown: then unusable)

    mutable std::array<std::atomic<verify_ctx*>, alg_count> slots{};
#if OIDC_LOW_LEVEL_SHA
    /// HMAC schedules by hash, built on first use and immutable once published.
    mutable std::array<std::atomic<hmac_pads*>, 3> pads{};

    /// The HMAC schedule for `h`, or null (FIPS default properties, or a failure): then the
    /// caller uses EVP_MAC.
    const hmac_pads* pads_for(ossl::hash h) const {
        auto& slot = pads[static_cast<std::size_t>(h)];
        if (hmac_pads* p = slot.load(std::memory_order_acquire))
            return p;
        if (kty != key_type::oct || EVP_default_properties_is_fips_enabled(nullptr) == 1)
            return nullptr;
        std::unique_ptr<hmac_pads> made = hmac_pads::make(secret, h);
        if (!made)
            return nullptr;
        hmac_pads* expected = nullptr;
        if (slot.compare_exchange_strong(expected, made.get(), std::memory_order_acq_rel,
                                         std::memory_order_acquire))
            return made.release();
        return expected; // another thread published first
    }
#endif

    key_data() = default;
    key_data(const key_data&) = delete;
    key_data& operator=(const key_data&) = delete;
    ~key_data() {
        for (auto& s : slots)
            delete s.load(std::memory_order_relaxed);
#if OIDC_LOW_LEVEL_SHA
        for (auto& p : pads)
            delete p.load(std::memory_order_relaxed);
#endif
        if (!secret.empty())
            OPENSSL_cleanse(secret.data(), secret.size());
    }

    std::unique_ptr<verify_ctx> take(alg a) const noexcept {
        return std::unique_ptr<verify_ctx>(
            slots[static_cast<std::size_t>(a)].exchange(nullptr, std::memory_order_acquire));
    }
    void give(alg a, std::unique_ptr<verify_ctx> c) const noexcept {
        verify_ctx* expected = nullptr;
        if (slots[static_cast<std::size_t>(a)].compare_exchange_strong(
                expected, c.get(), std::memory_order_release, std::memory_order_relaxed))
            c.release();
    }
};

inline const std::shared_ptr<const key_data>& empty_key() {
    static const std::shared_ptr<const key_data> k = std::make_shared<key_data>();
    return k;
}

/// What an algorithm needs from a key.
struct alg_req {
    key_type kty;
    ossl::hash h;
    const char* crv; ///< EC / OKP curve name, else nullptr
};

inline alg_req requirement(alg a) noexcept {
    using H = ossl::hash;
    switch (a) {
    case alg::HS256:
        return {key_type::oct, H::sha256, nullptr};
    case alg::HS384:
        return {key_type::oct, H::sha384, nullptr};
    case alg::HS512:
        return {key_type::oct, H::sha512, nullptr};
    case alg::RS256:
    case alg::PS256:
        return {key_type::rsa, H::sha256, nullptr};
    case alg::RS384:
    case alg::PS384:
        return {key_type::rsa, H::sha384, nullptr};
    case alg::RS512:
    case alg::PS512:
        return {key_type::rsa, H::sha512, nullptr};
    case alg::ES256:
        return {key_type::ec, H::sha256, "P-256"};
    case alg::ES384:
        return {key_type::ec, H::sha384, "P-384"};
    case alg::ES512:
        return {key_type::ec, H::sha512, "P-521"};
    case alg::EdDSA:
        return {key_type::okp, H::sha512, "Ed25519"};
    case alg::none:
        break;
    }
    return {key_type::oct, H::sha256, nullptr};
}

enum class key_op { verify, sign };

/// Whether `k` may be used with `a` for `op`: alg_none, alg_key_mismatch (kty, crv, or the
/// key's own "alg" differs), key_unusable ("use" not "sig", "key_ops" without the operation,
/// a public key for signing), jwk_key_too_small (HMAC key shorter than the hash, RFC 7518 3.2).
inline std::error_code check_key(const key_data& k, alg a, key_op op) noexcept {
    if (a == alg::none)
        return errc::alg_none;
    const alg_req r = requirement(a);
    if (k.kty != r.kty || (r.crv && k.crv != r.crv))
        return errc::alg_key_mismatch;
    if (k.kty != key_type::oct && !k.pkey)
        return errc::alg_key_mismatch;
    if (k.has_alg && k.algorithm != a)
        return errc::alg_key_mismatch;
    if (!k.use.empty() && k.use != "sig")
        return errc::key_unusable;
    if (!k.key_ops.empty()) {
        const char* want = op == key_op::verify ? "verify" : "sign";
        if (std::find(k.key_ops.begin(), k.key_ops.end(), want) == k.key_ops.end())
            return errc::key_unusable;
    }
    if (op == key_op::sign && !k.priv)
        return errc::key_unusable;
    if (k.kty == key_type::oct && k.secret.size() < ossl::hash_size(r.h))
        return errc::jwk_key_too_small;
    return {};
}

// ---- import ----

/// Optional string member: absent -> ok and out untouched; not a string -> jwk_invalid.
inline std::error_code opt_string(const json::value& o, std::string_view name, std::string& out) {
    const json::value* v = o.find(name);
    if (!v)
        return {};
    if (!v->is_string())
        return errc::jwk_invalid;
    out = v->as_string();
    return {};
}

/// A base64url member: `required` and absent -> jwk_invalid; present -> decoded into bytes
/// and its text kept in `text` (when non-null).
inline std::error_code b64_member(const json::value& o, std::string_view name, bool required,
                                  std::string& bytes, bool& present, std::string* text = nullptr) {
    present = false;
    const json::value* v = o.find(name);
    if (!v)
        return required ? std::error_code(errc::jwk_invalid) : std::error_code();
    if (!v->is_string())
        return errc::jwk_invalid;
    if (base64url_decode(v->as_string(), bytes))
        return errc::jwk_invalid;
    if (text)
        *text = v->as_string();
    present = true;
    return {};
}

struct secure_string {
    std::string s;
    ~secure_string() {
        if (!s.empty())
            OPENSSL_cleanse(s.data(), s.size());
    }
};

inline std::error_code push_bn(OSSL_PARAM_BLD* bld, const char* name, std::string_view bytes,
                               std::vector<ossl::bn_ptr>& keep) {
    ossl::bn_ptr bn = ossl::bn_from_bytes(bytes);
    if (!bn || !OSSL_PARAM_BLD_push_BN(bld, name, bn.get()))
        return errc::crypto_failure;
    keep.push_back(std::move(bn));
    return {};
}

inline std::error_code from_data(const char* type, OSSL_PARAM_BLD* bld, bool priv,
                                 ossl::pkey_ptr& out) {
    ossl::params_ptr params(OSSL_PARAM_BLD_to_param(bld));
    ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1)
        return errc::crypto_failure;
    EVP_PKEY* p = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &p, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params.get()) != 1 ||
        !p)
        return errc::jwk_invalid;
    out.reset(p);
    return {};
}

inline std::error_code import_rsa(const json::value& o, key_data& k) {
    std::string n, e;
    secure_string d, p, q, dp, dq, qi;
    bool has = false;
    if (auto ec = b64_member(o, "n", true, n, has, &k.n))
        return ec;
    if (auto ec = b64_member(o, "e", true, e, has, &k.e))
        return ec;
    if (o.find("oth"))
        return errc::jwk_unsupported; // multi-prime keys
    // Leading zero octets are not allowed in n (RFC 7518 6.3.1.1), nor an empty value.
    if (n.empty() || e.empty() || n[0] == '\0' || e[0] == '\0')
        return errc::jwk_invalid;
    ossl::bn_ptr nb = ossl::bn_from_bytes(n), eb = ossl::bn_from_bytes(e);
    if (!nb || !eb)
        return errc::crypto_failure;
    k.bits = static_cast<std::size_t>(BN_num_bits(nb.get()));
    if (k.bits < 2048)
        return errc::jwk_key_too_small;
    if (k.bits > 16384)
        return errc::jwk_unsupported;
    // e must be odd, at least 3 and smaller than n.
    if (!BN_is_odd(eb.get()) || BN_is_one(eb.get()) || BN_num_bits(eb.get()) > 64)
        return errc::jwk_invalid;
    if (!BN_is_odd(nb.get()))
        return errc::jwk_invalid;
    bool hd = false, hp = false, hq = false, hdp = false, hdq = false, hqi = false;
    if (auto ec = b64_member(o, "d", false, d.s, hd))
        return ec;
    if (auto ec = b64_member(o, "p", false, p.s, hp))
        return ec;
    if (auto ec = b64_member(o, "q", false, q.s, hq))
        return ec;
    if (auto ec = b64_member(o, "dp", false, dp.s, hdp))
        return ec;
    if (auto ec = b64_member(o, "dq", false, dq.s, hdq))
        return ec;
    if (auto ec = b64_member(o, "qi", false, qi.s, hqi))
        return ec;
    const int crt = int(hp) + int(hq) + int(hdp) + int(hdq) + int(hqi);
    if ((crt != 0 && crt != 5) || (crt == 5 && !hd))
        return errc::jwk_invalid; // RFC 7518 6.3.2: all CRT members or none, and d
    ossl::param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld)
        return errc::crypto_failure;
    std::vector<ossl::bn_ptr> keep;
    if (!OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, nb.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, eb.get()))
        return errc::crypto_failure;
    if (hd) {
        std::error_code ec = push_bn(bld.get(), OSSL_PKEY_PARAM_RSA_D, d.s, keep);
        if (!ec && crt == 5) {
            if ((ec = push_bn(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, p.s, keep)) ||
                (ec = push_bn(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, q.s, keep)) ||
                (ec = push_bn(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1, dp.s, keep)) ||
                (ec = push_bn(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2, dq.s, keep)) ||
                (ec = push_bn(bld.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi.s, keep)))
                return ec;
        }
        if (ec)
            return ec;
    }
    if (auto ec = from_data("RSA", bld.get(), hd, k.pkey))
        return ec;
    for (auto& b : keep)
        BN_clear(b.get());
    k.priv = hd;
    k.kty = key_type::rsa;
    return {};
}

inline std::error_code import_ec(const json::value& o, key_data& k) {
    if (auto ec = opt_string(o, "crv", k.crv))
        return ec;
    const char* group = nullptr;
    if (k.crv == "P-256") {
        group = "prime256v1";
        k.coord = 32;
        k.bits = 256;
    } else if (k.crv == "P-384") {
        group = "secp384r1";
        k.coord = 48;
        k.bits = 384;
    } else if (k.crv == "P-521") {
        group = "secp521r1";
        k.coord = 66;
        k.bits = 521;
    } else {
        return k.crv.empty() ? errc::jwk_invalid : errc::jwk_unsupported;
    }
    std::string x, y;
    secure_string d;
    bool has = false, hd = false;
    if (auto ec = b64_member(o, "x", true, x, has, &k.x))
        return ec;
    if (auto ec = b64_member(o, "y", true, y, has, &k.y))
        return ec;
    if (auto ec = b64_member(o, "d", false, d.s, hd))
        return ec;
    // RFC 7518 6.2.1.2 / 6.2.2.1: coordinates and d are exactly the field size.
    if (x.size() != k.coord || y.size() != k.coord || (hd && d.s.size() != k.coord))
        return errc::jwk_invalid;
    std::string pub;
    pub.reserve(1 + 2 * k.coord);
    pub.push_back('\x04');
    pub += x;
    pub += y;
    ossl::param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(),
                                          pub.size()))
        return errc::crypto_failure;
    std::vector<ossl::bn_ptr> keep;
    if (hd)
        if (auto ec = push_bn(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.s, keep))
            return ec;
    // OpenSSL refuses a point that is not on the curve while importing it.
    if (from_data("EC", bld.get(), hd, k.pkey))
        return errc::jwk_point_not_on_curve;
    for (auto& b : keep)
        BN_clear(b.get());
    ossl::pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, k.pkey.get(), nullptr));
    if (!check)
        return errc::crypto_failure;
    if (EVP_PKEY_public_check(check.get()) != 1)
        return errc::jwk_point_not_on_curve;
    if (hd && EVP_PKEY_pairwise_check(check.get()) != 1)
        return errc::jwk_invalid;
    k.priv = hd;
    k.kty = key_type::ec;
    return {};
}

inline std::error_code import_okp(const json::value& o, key_data& k) {
    if (auto ec = opt_string(o, "crv", k.crv))
        return ec;
    if (k.crv != "Ed25519")
        return k.crv.empty() ? errc::jwk_invalid : errc::jwk_unsupported;
    std::string x;
    secure_string d;
    bool has = false, hd = false;
    if (auto ec = b64_member(o, "x", true, x, has, &k.x))
        return ec;
    if (auto ec = b64_member(o, "d", false, d.s, hd))
        return ec;
    if (x.size() != 32 || (hd && d.s.size() != 32))
        return errc::jwk_invalid;
    ossl::param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, x.data(), x.size()))
        return errc::crypto_failure;
    if (hd && !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.s.data(),
                                                d.s.size()))
        return errc::crypto_failure;
    if (from_data("ED25519", bld.get(), hd, k.pkey))
        return errc::jwk_point_not_on_curve;
    if (hd) {
        // The public key must be the one derived from d.
        unsigned char derived[32];
        std::size_t len = sizeof derived;
        ossl::pkey_ptr tmp(EVP_PKEY_new_raw_private_key(
            EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(d.s.data()),
            d.s.size()));
        if (!tmp || EVP_PKEY_get_raw_public_key(tmp.get(), derived, &len) != 1 || len != 32 ||
            std::memcmp(derived, x.data(), 32) != 0)
            return errc::jwk_invalid;
    }
    k.bits = 256;
    k.priv = hd;
    k.kty = key_type::okp;
    return {};
}

inline std::error_code import_oct(const json::value& o, key_data& k) {
    bool has = false;
    if (auto ec = b64_member(o, "k", true, k.secret, has))
        return ec;
    if (k.secret.empty())
        return errc::jwk_key_too_small;
    k.bits = k.secret.size() * 8;
    k.priv = true;
    k.kty = key_type::oct;
    return {};
}

/// Imports one JWK object. Errors: jwk_invalid, jwk_unsupported (kty, crv, multi-prime),
/// jwk_key_too_small, jwk_point_not_on_curve, crypto_failure.
inline std::error_code import(const json::value& o, key_data& k) {
    if (!o.is_object())
        return errc::jwk_invalid;
    const std::string* kty = o.find_string("kty");
    if (!kty)
        return errc::jwk_invalid;
    if (auto ec = opt_string(o, "kid", k.kid))
        return ec;
    if (auto ec = opt_string(o, "use", k.use))
        return ec;
    if (const json::value* a = o.find("alg")) {
        if (!a->is_string())
            return errc::jwk_invalid;
        k.has_alg = true;
        k.alg_name = a->as_string();
        k.algorithm = alg_from_string(k.alg_name);
        if (k.algorithm == alg::none)
            k.algorithm.reset(); // never usable
    }
    if (const json::value* ops = o.find("key_ops")) {
        if (!ops->is_array() || ops->as_array().empty())
            return errc::jwk_invalid;
        for (const auto& op : ops->as_array()) {
            if (!op.is_string() ||
                std::find(k.key_ops.begin(), k.key_ops.end(), op.as_string()) != k.key_ops.end())
                return errc::jwk_invalid; // not a string, or a duplicate (RFC 7517 4.3)
            k.key_ops.push_back(op.as_string());
        }
    }
    std::error_code ec;
    if (*kty == "RSA")
        ec = import_rsa(o, k);
    else if (*kty == "EC")
        ec = import_ec(o, k);
    else if (*kty == "OKP")
        ec = import_okp(o, k);
    else if (*kty == "oct")
        ec = import_oct(o, k);
    else
        ec = errc::jwk_unsupported;
    ossl::clear_errors();
    return ec;
}

} // namespace detail

/// A JSON Web Key. Thread safety: a jwk is immutable; distinct copies and the same object
/// may be used from several threads at once (verification caches are lock-free).
class jwk {
public:
    jwk() : d_(detail::empty_key()) {}

    /// Parses one JWK (RFC 7517 section 4). Errors: json_*, jwk_invalid, jwk_unsupported,
    /// jwk_key_too_small (RSA below 2048 bits, empty oct), jwk_point_not_on_curve.
    static std::error_code parse(std::string_view json_text, jwk& out) {
        oidc::detail::json::value v;
        if (auto ec = oidc::detail::json::parse_object(json_text, v))
            return ec;
        return from_json(v, out);
    }

    /// An oct key for HS256/384/512 (e.g. an OIDC client secret, OIDC Core 10.1).
    static jwk from_secret(std::string_view secret_bytes, std::string_view kid = {}) {
        auto k = std::make_shared<detail::key_data>();
        k->kid.assign(kid.data(), kid.size());
        k->kty = key_type::oct;
        k->secret.assign(secret_bytes.data(), secret_bytes.size());
        k->bits = k->secret.size() * 8;
        k->priv = true;
        return jwk(std::move(k));
    }

    /// Builds a JWK from an OpenSSL key (RSA, EC P-256/384/521, Ed25519; private members too
    /// when present), e.g. a private key loaded from a PEM file for private_key_jwt. The key
    /// goes through the same import and checks as a parsed JWK. `kid` is set when non-empty.
    static std::error_code from_native(EVP_PKEY* pkey, jwk& out, std::string_view kid = {});

    key_type kty() const noexcept { return d_->kty; }
    const std::string& kid() const noexcept { return d_->kid; }
    const std::string& use() const noexcept { return d_->use; }
    const std::vector<std::string>& key_ops() const noexcept { return d_->key_ops; }
    /// The "alg" member when it names a known JWS algorithm (an unknown "alg" makes the key
    /// unusable for every algorithm).
    std::optional<alg> algorithm() const noexcept { return d_->algorithm; }
    const std::string& crv() const noexcept { return d_->crv; }
    bool has_private() const noexcept { return d_->priv; }
    std::size_t bits() const noexcept { return d_->bits; }

    /// Whether this key may verify `a`: kty, crv, size, "alg", "use" ("sig") and "key_ops"
    /// ("verify") all agree. Never true for none, nor for HS with an asymmetric key.
    bool usable_with(alg a) const noexcept {
        return !detail::check_key(*d_, a, detail::key_op::verify);
    }

    /// RFC 7638 thumbprint with SHA-256, base64url.
    std::string thumbprint() const {
        std::string j = required_members(true);
        unsigned char md[32];
        unsigned int len = 0;
        if (EVP_Digest(j.data(), j.size(), md, &len,
                       oidc::detail::ossl::fetched_md(oidc::detail::ossl::hash::sha256),
                       nullptr) != 1)
            return {};
        if (d_->kty == key_type::oct)
            OPENSSL_cleanse(j.data(), j.size());
        return base64url_encode(std::string_view(reinterpret_cast<const char*>(md), len));
    }

    /// The public members as a JWK JSON object (for publishing a key set). For an oct key
    /// the secret is never included.
    std::string public_json() const {
        namespace json = oidc::detail::json;
        std::string s = "{";
        auto member = [&](std::string_view name, std::string_view value) {
            if (s.size() > 1)
                s.push_back(',');
            json::append_escaped(s, name);
            s.push_back(':');
            json::append_escaped(s, value);
        };
        member("kty", kty_name());
        if (!d_->kid.empty())
            member("kid", d_->kid);
        if (!d_->use.empty())
            member("use", d_->use);
        if (d_->has_alg)
            member("alg", d_->alg_name);
        if (!d_->key_ops.empty()) {
            s += ",\"key_ops\":[";
            for (std::size_t i = 0; i < d_->key_ops.size(); ++i) {
                if (i)
                    s.push_back(',');
                json::append_escaped(s, d_->key_ops[i]);
            }
            s.push_back(']');
        }
        switch (d_->kty) {
        case key_type::rsa:
            member("n", d_->n);
            member("e", d_->e);
            break;
        case key_type::ec:
            member("crv", d_->crv);
            member("x", d_->x);
            member("y", d_->y);
            break;
        case key_type::okp:
            member("crv", d_->crv);
            member("x", d_->x);
            break;
        case key_type::oct:
            break;
        }
        s.push_back('}');
        return s;
    }

    /// The OpenSSL key (owned by this jwk); null for oct keys.
    EVP_PKEY* native_handle() const noexcept { return d_->pkey.get(); }
    /// The oct key bytes; empty for other key types.
    std::string_view secret() const noexcept { return d_->secret; }

    /// Implementation access (not part of the stable API).
    const detail::key_data& impl() const noexcept { return *d_; }

    /// Imports from an already parsed JSON object (used by jwk_set).
    static std::error_code from_json(const oidc::detail::json::value& v, jwk& out) {
        auto k = std::make_shared<detail::key_data>();
        if (auto ec = detail::import(v, *k))
            return ec;
        out = jwk(std::move(k));
        return {};
    }

private:
    explicit jwk(std::shared_ptr<const detail::key_data> d) : d_(std::move(d)) {}

    std::string_view kty_name() const noexcept {
        switch (d_->kty) {
        case key_type::rsa:
            return "RSA";
        case key_type::ec:
            return "EC";
        case key_type::okp:
            return "OKP";
        case key_type::oct:
            return "oct";
        }
        return "";
    }

    // RFC 7638 3.2: the required members, lexicographic order, no whitespace.
    std::string required_members(bool) const {
        std::string s;
        switch (d_->kty) {
        case key_type::rsa:
            s = "{\"e\":\"" + d_->e + "\",\"kty\":\"RSA\",\"n\":\"" + d_->n + "\"}";
            break;
        case key_type::ec:
            s = "{\"crv\":\"" + d_->crv + "\",\"kty\":\"EC\",\"x\":\"" + d_->x + "\",\"y\":\"" +
                d_->y + "\"}";
            break;
        case key_type::okp:
            s = "{\"crv\":\"" + d_->crv + "\",\"kty\":\"OKP\",\"x\":\"" + d_->x + "\"}";
            break;
        case key_type::oct:
            s = "{\"k\":\"" + base64url_encode(d_->secret) + "\",\"kty\":\"oct\"}";
            break;
        }
        return s;
    }

    std::shared_ptr<const detail::key_data> d_;
};

namespace detail {
inline void append_b64_member(std::string& s, const char* name, std::string_view bytes) {
    s += ",\"";
    s += name;
    s += "\":\"";
    base64url_encode(bytes, s);
    s += "\"";
}

inline bool append_bn_param(std::string& s, EVP_PKEY* p, const char* param, const char* name,
                            std::size_t pad = 0) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(p, param, &bn) != 1 || !bn)
        return false;
    ossl::bn_ptr owned(bn);
    std::size_t n = pad ? pad : static_cast<std::size_t>(BN_num_bytes(bn));
    secure_string buf;
    buf.s.resize(n);
    if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(buf.s.data()), static_cast<int>(n)) < 0)
        return false;
    append_b64_member(s, name, buf.s);
    BN_clear(bn);
    return true;
}
} // namespace detail

inline std::error_code jwk::from_native(EVP_PKEY* pkey, jwk& out, std::string_view kid) {
    if (!pkey)
        return errc::jwk_invalid;
    detail::secure_string j;
    std::string& s = j.s;
    s = "{";
    if (!kid.empty()) {
        s += "\"kid\":";
        oidc::detail::json::append_escaped(s, kid);
        s += ",";
    }
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA: {
        s += "\"kty\":\"RSA\"";
        if (!detail::append_bn_param(s, pkey, OSSL_PKEY_PARAM_RSA_N, "n") ||
            !detail::append_bn_param(s, pkey, OSSL_PKEY_PARAM_RSA_E, "e"))
            return errc::jwk_invalid;
        if (detail::append_bn_param(s, pkey, OSSL_PKEY_PARAM_RSA_D, "d")) {
            std::string crt;
            if (detail::append_bn_param(crt, pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, "p") &&
                detail::append_bn_param(crt, pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, "q") &&
                detail::append_bn_param(crt, pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, "dp") &&
                detail::append_bn_param(crt, pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, "dq") &&
                detail::append_bn_param(crt, pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, "qi"))
                s += crt;
            OPENSSL_cleanse(crt.data(), crt.size());
        }
        break;
    }
    case EVP_PKEY_EC: {
        char group[64] = {};
        std::size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &glen) != 1)
            return errc::jwk_invalid;
        std::string_view g(group, glen);
        const char* crv = nullptr;
        std::size_t coord = 0;
        if (g == "prime256v1" || g == "P-256") {
            crv = "P-256";
            coord = 32;
        } else if (g == "secp384r1" || g == "P-384") {
            crv = "P-384";
            coord = 48;
        } else if (g == "secp521r1" || g == "P-521") {
            crv = "P-521";
            coord = 66;
        } else {
            return errc::jwk_unsupported;
        }
        s += "\"kty\":\"EC\",\"crv\":\"";
        s += crv;
        s += "\"";
        if (!detail::append_bn_param(s, pkey, OSSL_PKEY_PARAM_EC_PUB_X, "x", coord) ||
            !detail::append_bn_param(s, pkey, OSSL_PKEY_PARAM_EC_PUB_Y, "y", coord))
            return errc::jwk_invalid;
        detail::append_bn_param(s, pkey, OSSL_PKEY_PARAM_PRIV_KEY, "d", coord);
        break;
    }
    case EVP_PKEY_ED25519: {
        unsigned char buf[32];
        std::size_t len = sizeof buf;
        if (EVP_PKEY_get_raw_public_key(pkey, buf, &len) != 1 || len != 32)
            return errc::jwk_invalid;
        s += "\"kty\":\"OKP\",\"crv\":\"Ed25519\"";
        detail::append_b64_member(s, "x", std::string_view(reinterpret_cast<char*>(buf), len));
        len = sizeof buf;
        if (EVP_PKEY_get_raw_private_key(pkey, buf, &len) == 1 && len == 32)
            detail::append_b64_member(s, "d", std::string_view(reinterpret_cast<char*>(buf), len));
        OPENSSL_cleanse(buf, sizeof buf);
        break;
    }
    default:
        return errc::jwk_unsupported;
    }
    s += "}";
    oidc::detail::ossl::clear_errors();
    return parse(s, out);
}

/// A JWK Set (RFC 7517 section 5). Keys of an unknown "kty" (or "crv") are skipped, not fatal,
/// as RFC 7517 5 asks; a key of a known type with bad members (too small, off the curve,
/// malformed) is skipped too, so one bad key never takes the provider's other keys down.
/// `skipped()` counts them.
class jwk_set {
public:
    /// Errors: json_* (the document itself), jwk_set_invalid (no "keys" array).
    static std::error_code parse(std::string_view json_text, jwk_set& out) {
        namespace json = oidc::detail::json;
        json::value v;
        if (auto ec = json::parse_object(json_text, v))
            return ec;
        const json::value* keys = v.find("keys");
        if (!keys || !keys->is_array())
            return errc::jwk_set_invalid;
        jwk_set s;
        s.keys_.reserve(keys->as_array().size());
        for (const auto& k : keys->as_array()) {
            jwk key;
            if (jwk::from_json(k, key)) {
                ++s.skipped_;
                if (const std::string* kid = k.find_string("kid"))
                    s.skipped_kids_.push_back(*kid);
            } else
                s.keys_.push_back(std::move(key));
        }
        out = std::move(s);
        return {};
    }

    const std::vector<jwk>& keys() const noexcept { return keys_; }
    bool empty() const noexcept { return keys_.empty(); }
    std::size_t size() const noexcept { return keys_.size(); }
    /// How many members of "keys" the last parse skipped.
    std::size_t skipped() const noexcept { return skipped_; }
    void add(jwk k) { keys_.push_back(std::move(k)); }

    /// The key for a token signed with `a`:
    /// - with a kid: the key with that kid usable with `a` (see jwk::usable_with); keys
    ///   without that kid are never considered;
    /// - without a kid: the single key usable with `a`.
    /// Ambiguity (two usable candidates, or a kid that the set also gave to a key it skipped
    /// as malformed) returns nullptr: the caller reports key_not_found rather than guess.
    /// nullptr when nothing matches.
    const jwk* select(std::string_view kid, alg a) const noexcept {
        if (!kid.empty() &&
            std::find(skipped_kids_.begin(), skipped_kids_.end(), kid) != skipped_kids_.end())
            return nullptr;
        const jwk* found = nullptr;
        for (const auto& k : keys_) {
            if (!kid.empty() && k.kid() != kid)
                continue;
            if (!k.usable_with(a))
                continue;
            if (found)
                return nullptr;
            found = &k;
        }
        return found;
    }

private:
    std::vector<jwk> keys_;
    std::size_t skipped_ = 0;
    std::vector<std::string> skipped_kids_;
};

} // namespace oidc::jose
