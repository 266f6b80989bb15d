// asio-oidc: small RAII wrappers and cached algorithm handles for OpenSSL 3 (private).
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>

namespace oidc::detail::ossl {

template <auto Free>
struct deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        Free(p);
    }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, deleter<EVP_PKEY_CTX_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, deleter<EVP_MD_CTX_free>>;
using mac_ctx_ptr = std::unique_ptr<EVP_MAC_CTX, deleter<EVP_MAC_CTX_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, deleter<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, deleter<OSSL_PARAM_free>>;

/// Shares an EVP_PKEY (up-ref'd on copy).
inline pkey_ptr up_ref(EVP_PKEY* p) noexcept {
    if (p && EVP_PKEY_up_ref(p) == 1)
        return pkey_ptr(p);
    return nullptr;
}

enum class hash : unsigned char { sha256, sha384, sha512 };

inline std::size_t hash_size(hash h) noexcept {
    return h == hash::sha256 ? 32 : h == hash::sha384 ? 48 : 64;
}

inline const char* hash_name(hash h) noexcept {
    return h == hash::sha256 ? "SHA256" : h == hash::sha384 ? "SHA384" : "SHA512";
}

/// The fetched digest, fetched once per process (fetching costs a lock and a lookup).
inline const EVP_MD* fetched_md(hash h) noexcept {
    static EVP_MD* const mds[3] = {EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                   EVP_MD_fetch(nullptr, "SHA384", nullptr),
                                   EVP_MD_fetch(nullptr, "SHA512", nullptr)};
    return mds[static_cast<int>(h)];
}

inline EVP_MAC* fetched_hmac() noexcept {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return mac;
}

/// Clears OpenSSL's thread error queue (our results travel as error codes).
inline void clear_errors() noexcept {
    ERR_clear_error();
}

inline bn_ptr bn_from_bytes(const std::string_view b) noexcept {
    return bn_ptr(BN_bin2bn(reinterpret_cast<const unsigned char*>(b.data()),
                            static_cast<int>(b.size()), nullptr));
}

} // namespace oidc::detail::ossl
