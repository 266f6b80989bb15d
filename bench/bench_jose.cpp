// JOSE benchmark: verify + full claims validation (oidc::jose::validate) of a realistic ~1.6 KB
// Keycloak-style access token, against the fastest raw OpenSSL loop for the same algorithm on
// the same prepared key, in the same run, in alternating slices.
//
// Usage: bench_jose [SLICES [SLICE_MS [ALG,ALG...]]]   (default 20 slices of 200 ms per side)
// Prints one line per algorithm: `ALG ops_per_s RAW_ops_per_s ratio`.
//
// Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that other processes on a shared
// machine do not count against either side. The raw side tries several OpenSSL strategies once
// and keeps the fastest (see raw_candidates()): it verifies the same signing input and
// signature, with the ECDSA signature converted to DER beforehand (outside the loop).
// The raw side also tries OpenSSL 3.0's low-level (deprecated) SHA-256 API.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <oidc/jose/jwt.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace jose = oidc::jose;

namespace {

double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "bench_jose: %s\n", what.c_str());
    std::exit(1);
}

constexpr std::int64_t now_s = 1'700'000'000;
const std::string issuer = "https://auth.example.com/auth/realms/eat_realm";

// A Keycloak access token's claims (seed 000_*: realm_access roles, resource_access, scope,
// email, name, session_state ...), sized so that an RS256 token is about 1.6 KB.
std::string keycloak_claims() {
    return R"({"exp":)" + std::to_string(now_s + 1800) + R"(,"iat":)" + std::to_string(now_s - 60) +
           R"(,"auth_time":)" + std::to_string(now_s - 65) +
           R"(,"jti":"4da16154-8f42-4274-9387-08bb8982a713","iss":")" + issuer +
           R"(","aud":["ea-api","account"],"sub":"c848abbb-a228-42c1-ad70-b2b010c8e851",)"
           R"("typ":"Bearer","azp":"ea-api-edge","nonce":"0b8e8b8a-62b3-4d0c-9e1a-7b9c8c2f0d11",)"
           R"("session_state":"9ba3aaf4-3b54-49e7-92b0-19900d15a9eb","acr":"1",)"
           R"("allowed-origins":["https://app.example.com","https://admin.example.com"],)"
           R"("realm_access":{"roles":["offline_access","uma_authorization","ADMIN","USER",)"
           R"("default-roles-eat_realm"]},"resource_access":{"ea-api":{"roles":["dossier-read",)"
           R"("dossier-write","attestation-read"]},"account":{"roles":["manage-account",)"
           R"("manage-account-links","view-profile"]}},"scope":"openid profile email",)"
           R"("sid":"9ba3aaf4-3b54-49e7-92b0-19900d15a9eb","account_ids":"118466",)"
           R"("email_verified":true,"name":"Vincent Dagoury","preferred_username":)"
           R"("v.dagoury@e-attestations.com","given_name":"Vincent","family_name":"DAGOURY",)"
           R"("email":"v.dagoury@e-attestations.com","locale":"fr"})";
}

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

pkey_ptr keygen(jose::alg a) {
    EVP_PKEY* p = nullptr;
    switch (a) {
    case jose::alg::RS256:
    case jose::alg::PS256:
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
        break;
    case jose::alg::ES256:
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        break;
    case jose::alg::EdDSA:
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        break;
    default:
        break;
    }
    if (!p)
        die("keygen");
    return pkey_ptr(p, EVP_PKEY_free);
}

// P1363 r||s -> DER ECDSA-Sig-Value (for the raw loop only).
std::string p1363_to_der(std::string_view sig) {
    auto integer = [](std::string_view v) {
        std::size_t i = 0;
        while (i + 1 < v.size() && v[i] == 0)
            ++i;
        std::string out(v.substr(i));
        if (static_cast<unsigned char>(out[0]) & 0x80)
            out.insert(out.begin(), '\0');
        return std::string("\x02", 1) + static_cast<char>(out.size()) + out;
    };
    std::string body = integer(sig.substr(0, sig.size() / 2)) + integer(sig.substr(sig.size() / 2));
    return std::string("\x30", 1) + static_cast<char>(body.size()) + body;
}

struct raw_candidate {
    std::string name;
    std::function<bool()> op;
};

struct fixture {
    jose::alg a;
    std::string token;
    jose::jwk_set keys;
    jose::validation_options opt;
    pkey_ptr pkey{nullptr, EVP_PKEY_free};
    std::string secret;
    std::string input, sig; // signing input and decoded signature
};

fixture make_fixture(jose::alg a) {
    fixture f;
    f.a = a;
    jose::jwk priv;
    if (a == jose::alg::HS256) {
        f.secret.resize(32);
        RAND_bytes(reinterpret_cast<unsigned char*>(f.secret.data()), 32);
        priv = jose::jwk::from_secret(f.secret);
        f.keys.add(priv);
    } else {
        f.pkey = keygen(a);
        if (jose::jwk::from_native(f.pkey.get(), priv, "bench-key"))
            die("from_native");
        jose::jwk pub;
        if (jose::jwk::parse(priv.public_json(), pub))
            die("public jwk");
        f.keys.add(pub);
    }
    if (jose::sign_compact(a, priv, keycloak_claims(), f.token))
        die("sign");
    f.opt.issuer = issuer;
    f.opt.audiences = {"ea-api"};
    f.opt.algorithms = {a};
    f.opt.nonce = "0b8e8b8a-62b3-4d0c-9e1a-7b9c8c2f0d11";
    f.opt.require_iat = true;
    f.opt.require_sub = true;
    f.opt.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(now_s));
    };
    auto d2 = f.token.rfind('.');
    f.input = f.token.substr(0, d2);
    if (jose::base64url_decode(std::string_view(f.token).substr(d2 + 1), f.sig))
        die("signature decode");
    return f;
}

// Raw OpenSSL strategies for one fixture; each op returns true when the signature verifies.
std::vector<raw_candidate> raw_candidates(const fixture& f) {
    std::vector<raw_candidate> out;
    const auto* in = reinterpret_cast<const unsigned char*>(f.input.data());
    const std::size_t in_len = f.input.size();
    if (f.a == jose::alg::HS256) {
        // HMAC with an EVP_MAC_CTX: (1) re-initialised with the same key, (2) duplicated from
        // a keyed template.
        EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
            OSSL_PARAM_construct_end()};
        std::shared_ptr<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac), EVP_MAC_CTX_free);
        EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(f.secret.data()),
                     f.secret.size(), params);
        std::shared_ptr<EVP_MAC_CTX> tmpl(EVP_MAC_CTX_dup(ctx.get()), EVP_MAC_CTX_free);
        EVP_MAC_free(mac);
        std::string sig = f.sig;
        out.push_back({"hmac-reinit", [ctx, in, in_len, sig] {
                           unsigned char m[32];
                           std::size_t len = 0;
                           EVP_MAC_init(ctx.get(), nullptr, 0, nullptr);
                           EVP_MAC_update(ctx.get(), in, in_len);
                           EVP_MAC_final(ctx.get(), m, &len, sizeof m);
                           return CRYPTO_memcmp(m, sig.data(), 32) == 0;
                       }});
        out.push_back({"hmac-dup", [tmpl, in, in_len, sig] {
                           unsigned char m[32];
                           std::size_t len = 0;
                           EVP_MAC_CTX* c = EVP_MAC_CTX_dup(tmpl.get());
                           EVP_MAC_update(c, in, in_len);
                           EVP_MAC_final(c, m, &len, sizeof m);
                           EVP_MAC_CTX_free(c);
                           return CRYPTO_memcmp(m, sig.data(), 32) == 0;
                       }});
        // key^ipad and key^opad of a key of at most 64 bytes (RFC 2104 2).
        auto hmac_pads = [](const std::string& key, unsigned char* ipad, unsigned char* opad) {
            for (std::size_t i = 0; i < 64; ++i) {
                const unsigned char k = i < key.size() ? static_cast<unsigned char>(key[i]) : 0;
                ipad[i] = k ^ 0x36;
                opad[i] = k ^ 0x5c;
            }
        };
        // (3) HMAC by hand (RFC 2104) on SHA-256 contexts that absorbed key^ipad and key^opad
        // once: copy, update, final, twice per MAC.
        {
            EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
            std::shared_ptr<EVP_MD> mdp(md, EVP_MD_free);
            unsigned char ipad[64], opad[64];
            hmac_pads(f.secret, ipad, opad);
            std::shared_ptr<EVP_MD_CTX> inner(EVP_MD_CTX_new(), EVP_MD_CTX_free);
            std::shared_ptr<EVP_MD_CTX> outer(EVP_MD_CTX_new(), EVP_MD_CTX_free);
            std::shared_ptr<EVP_MD_CTX> work(EVP_MD_CTX_new(), EVP_MD_CTX_free);
            EVP_DigestInit_ex2(inner.get(), md, nullptr);
            EVP_DigestUpdate(inner.get(), ipad, 64);
            EVP_DigestInit_ex2(outer.get(), md, nullptr);
            EVP_DigestUpdate(outer.get(), opad, 64);
            out.push_back({"hmac-sha256-ctx-copy", [mdp, inner, outer, work, in, in_len, sig] {
                               unsigned char h[32], m[32];
                               unsigned int hl = 0;
                               if (EVP_MD_CTX_copy_ex(work.get(), inner.get()) != 1 ||
                                   EVP_DigestUpdate(work.get(), in, in_len) != 1 ||
                                   EVP_DigestFinal_ex(work.get(), h, &hl) != 1 ||
                                   EVP_MD_CTX_copy_ex(work.get(), outer.get()) != 1 ||
                                   EVP_DigestUpdate(work.get(), h, hl) != 1 ||
                                   EVP_DigestFinal_ex(work.get(), m, &hl) != 1)
                                   return false;
                               return CRYPTO_memcmp(m, sig.data(), 32) == 0;
                           }});
        }
#if !defined(OPENSSL_NO_DEPRECATED_3_0)
        // (4) the same with the low-level SHA-256 API: the states are plain structs, copied
        // without an allocation.
        {
            unsigned char ipad[64], opad[64];
            hmac_pads(f.secret, ipad, opad);
            auto pads = std::make_shared<std::array<SHA256_CTX, 2>>();
            SHA256_Init(&(*pads)[0]);
            SHA256_Update(&(*pads)[0], ipad, 64);
            SHA256_Init(&(*pads)[1]);
            SHA256_Update(&(*pads)[1], opad, 64);
            out.push_back({"hmac-sha256-lowlevel", [pads, in, in_len, sig] {
                               unsigned char h[32], m[32];
                               SHA256_CTX c = (*pads)[0];
                               if (SHA256_Update(&c, in, in_len) != 1 || SHA256_Final(h, &c) != 1)
                                   return false;
                               c = (*pads)[1];
                               if (SHA256_Update(&c, h, 32) != 1 || SHA256_Final(m, &c) != 1)
                                   return false;
                               return CRYPTO_memcmp(m, sig.data(), 32) == 0;
                           }});
        }
#endif
        return out;
    }
    EVP_PKEY* pk = f.pkey.get();
    std::string sig = f.a == jose::alg::ES256 ? p1363_to_der(f.sig) : f.sig;
    const bool pss = f.a == jose::alg::PS256;
    const bool ed = f.a == jose::alg::EdDSA;
    auto set_padding = [pss](EVP_PKEY_CTX* pctx) {
        if (pss) {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }
    };
    // (1) EVP_DigestVerifyInit + EVP_DigestVerify on a reused EVP_MD_CTX.
    {
        std::shared_ptr<EVP_MD_CTX> m(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        out.push_back({"digestverify-init", [m, pk, sig, in, in_len, ed, set_padding] {
                           EVP_PKEY_CTX* pctx = nullptr;
                           if (EVP_DigestVerifyInit_ex(m.get(), &pctx, ed ? nullptr : "SHA256",
                                                       nullptr, nullptr, pk, nullptr) != 1)
                               return false;
                           if (!ed)
                               set_padding(pctx);
                           return EVP_DigestVerify(
                                      m.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                                      sig.size(), in, in_len) == 1;
                       }});
    }
    // (2) a prepared EVP_MD_CTX template copied per verification.
    {
        std::shared_ptr<EVP_MD_CTX> t(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        EVP_PKEY_CTX* pctx = nullptr;
        EVP_DigestVerifyInit_ex(t.get(), &pctx, ed ? nullptr : "SHA256", nullptr, nullptr, pk,
                                nullptr);
        if (!ed)
            set_padding(pctx);
        std::shared_ptr<EVP_MD_CTX> m(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        if (EVP_MD_CTX_copy_ex(m.get(), t.get()) == 1)
            out.push_back({"digestverify-copy", [m, t, sig, in, in_len] {
                               if (EVP_MD_CTX_copy_ex(m.get(), t.get()) != 1)
                                   return false;
                               return EVP_DigestVerify(
                                          m.get(),
                                          reinterpret_cast<const unsigned char*>(sig.data()),
                                          sig.size(), in, in_len) == 1;
                           }});
    }
    // (3) digest, then EVP_PKEY_verify on a reused, initialised EVP_PKEY_CTX (not for EdDSA).
    if (!ed) {
        std::shared_ptr<EVP_PKEY_CTX> p(EVP_PKEY_CTX_new_from_pkey(nullptr, pk, nullptr),
                                        EVP_PKEY_CTX_free);
        EVP_PKEY_verify_init(p.get());
        EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        if (pss || f.a == jose::alg::RS256)
            EVP_PKEY_CTX_set_rsa_padding(p.get(), pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING);
        EVP_PKEY_CTX_set_signature_md(p.get(), md);
        if (pss) {
            EVP_PKEY_CTX_set_rsa_pss_saltlen(p.get(), RSA_PSS_SALTLEN_DIGEST);
            EVP_PKEY_CTX_set_rsa_mgf1_md(p.get(), md);
        }
        std::shared_ptr<EVP_MD> mdp(md, EVP_MD_free);
        std::shared_ptr<EVP_MD_CTX> m(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        out.push_back({"digest+pkey-verify", [p, mdp, m, sig, in, in_len] {
                           unsigned char h[32];
                           unsigned int hl = 0;
                           if (EVP_DigestInit_ex2(m.get(), mdp.get(), nullptr) != 1 ||
                               EVP_DigestUpdate(m.get(), in, in_len) != 1 ||
                               EVP_DigestFinal_ex(m.get(), h, &hl) != 1)
                               return false;
                           return EVP_PKEY_verify(
                                      p.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                                      sig.size(), h, hl) == 1;
                       }});
    }
    return out;
}

template <class F>
std::uint64_t run_for(double seconds, F&& op, double& used) {
    std::uint64_t n = 0;
    const double t0 = cpu_now();
    double t = t0;
    do {
        for (int i = 0; i < 8; ++i) {
            if (!op())
                die("an operation failed during the run");
            ++n;
        }
        t = cpu_now();
    } while (t - t0 < seconds);
    used = t - t0;
    return n;
}

} // namespace

int main(int argc, char** argv) {
    int slices = argc > 1 ? std::atoi(argv[1]) : 20;
    double slice_s = (argc > 2 ? std::atof(argv[2]) : 200.0) / 1000.0;
    std::string only = argc > 3 ? argv[3] : "";
    if (slices <= 0 || slice_s <= 0)
        die("usage: bench_jose [SLICES [SLICE_MS [ALG,ALG...]]]");

    const jose::alg algs[] = {jose::alg::RS256, jose::alg::PS256, jose::alg::ES256,
                              jose::alg::EdDSA, jose::alg::HS256};
    std::printf("# verify + full claims validation vs raw OpenSSL, %d x %.0f ms slices each\n",
                slices, slice_s * 1000);
    for (jose::alg a : algs) {
        std::string name(jose::to_string(a));
        if (!only.empty() && ("," + only + ",").find("," + name + ",") == std::string::npos)
            continue;
        fixture f = make_fixture(a);
        jose::claims claims;
        auto ours = [&] {
            return !jose::validate(f.token, f.keys, f.opt, claims);
        };
        if (!ours())
            die(name + ": the token does not validate");
        if (claims.get_string("preferred_username") != "v.dagoury@e-attestations.com")
            die(name + ": claims not read");

        // Pick the fastest raw strategy: five alternating rounds of 40 ms per candidate.
        auto cands = raw_candidates(f);
        std::vector<double> n_c(cands.size(), 0), t_c(cands.size(), 0);
        for (int round = 0; round < 5; ++round)
            for (std::size_t i = 0; i < cands.size(); ++i) {
                if (!cands[i].op())
                    continue;
                double used = 0;
                n_c[i] += static_cast<double>(run_for(0.04, cands[i].op, used));
                t_c[i] += used;
            }
        std::size_t best = 0;
        double best_rate = 0;
        for (std::size_t i = 0; i < cands.size(); ++i)
            if (t_c[i] > 0 && n_c[i] / t_c[i] > best_rate) {
                best_rate = n_c[i] / t_c[i];
                best = i;
            }
        if (best_rate == 0)
            die(name + ": no raw strategy verifies");
        auto& raw = cands[best].op;

        double t_ours = 0, t_raw = 0;
        std::uint64_t n_ours = 0, n_raw = 0;
        for (int s = 0; s < slices; ++s) {
            double used = 0;
            n_ours += run_for(slice_s, ours, used);
            t_ours += used;
            n_raw += run_for(slice_s, raw, used);
            t_raw += used;
        }
        double ops = n_ours / t_ours, raw_ops = n_raw / t_raw;
        std::printf("%s %.0f %.0f %.3f\n", name.c_str(), ops, raw_ops, ops / raw_ops);
        std::fprintf(stderr, "# %s: token %zu bytes, raw strategy %s\n", name.c_str(),
                     f.token.size(), cands[best].name.c_str());
        std::fflush(stdout);
    }
    return 0;
}
