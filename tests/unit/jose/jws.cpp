#include <oidc/jose/jws.hpp>

#include "catch.hpp"

#include <openssl/evp.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace jose = oidc::jose;
using jose::alg;
using oidc::errc;

namespace {

jose::jwk make_key(alg a, std::string_view kid = "k1") {
    EVP_PKEY* p = nullptr;
    if (jose::is_hmac(a))
        return jose::jwk::from_secret(std::string(64, 'k'), kid);
    if (jose::is_rsa(a))
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    else if (a == alg::ES256)
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    else if (a == alg::ES384)
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
    else if (a == alg::ES512)
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521");
    else
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    REQUIRE(p);
    jose::jwk k;
    auto ec = jose::jwk::from_native(p, k, kid);
    EVP_PKEY_free(p);
    REQUIRE_FALSE(ec);
    return k;
}

jose::jwk public_of(const jose::jwk& k) {
    if (k.kty() == jose::key_type::oct)
        return k;
    jose::jwk pub;
    REQUIRE_FALSE(jose::jwk::parse(k.public_json(), pub));
    return pub;
}

constexpr alg all_algs[] = {alg::HS256, alg::HS384, alg::HS512, alg::RS256, alg::RS384,
                            alg::RS512, alg::PS256, alg::PS384, alg::PS512, alg::ES256,
                            alg::ES384, alg::ES512, alg::EdDSA};

std::string b64(std::string_view s) {
    return jose::base64url_encode(s);
}

std::string with_header(std::string_view header_json, std::string_view payload = "{}",
                        std::string_view sig = "c2ln") {
    return b64(header_json) + "." + b64(payload) + "." + std::string(sig);
}

std::error_code parse(const std::string& compact) {
    jose::jws j;
    return jose::jws::parse(compact, j);
}

} // namespace

TEST_CASE("jws: sign/verify round trip for every alg", "[jose][jws]") {
    for (alg a : all_algs) {
        INFO(jose::to_string(a));
        const jose::jwk priv = make_key(a);
        const jose::jwk pub = public_of(priv);
        std::string token;
        REQUIRE_FALSE(jose::sign_compact(a, priv, R"({"sub":"alice"})", token, "JWT"));
        jose::jws j;
        REQUIRE_FALSE(jose::jws::parse(token, j));
        CHECK(j.header().algorithm == a);
        CHECK(j.header().kid == "k1");
        CHECK(j.header().typ == "JWT");
        CHECK(j.payload() == R"({"sub":"alice"})");
        jose::jwk_set keys;
        keys.add(pub);
        // Twice: the second call runs on the cached verification context.
        CHECK_FALSE(jose::verify_signature(j, keys, all_algs));
        CHECK_FALSE(jose::verify_signature(j, keys, all_algs));
        // A wrong signature in between does not poison the cache.
        std::string bad(j.signature());
        bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x10);
        CHECK(jose::verify(a, pub, j.signing_input(), bad) == errc::signature_invalid);
        CHECK_FALSE(jose::verify(a, pub, j.signing_input(), j.signature()));
        // Another payload fails.
        std::string other = std::string(j.signing_input()) + "x";
        CHECK(jose::verify(a, pub, other, j.signature()) == errc::signature_invalid);
        // Allowlist.
        const alg only_none_of_these[] = {a == alg::HS256 ? alg::HS384 : alg::HS256};
        CHECK(jose::verify_signature(j, keys, only_none_of_these) == errc::alg_not_allowed);
        // Public keys cannot sign.
        if (!jose::is_hmac(a)) {
            std::string sig;
            CHECK(jose::sign(a, pub, "x", sig) == errc::key_unusable);
        }
    }
}

TEST_CASE("jws: algorithm and key confusion", "[jose][jws]") {
    const jose::jwk rsa = make_key(alg::RS256);
    const jose::jwk ec = make_key(alg::ES256);
    const jose::jwk hs = make_key(alg::HS256);
    std::string sig;
    // HS with an RSA key (the public key bytes as an HMAC secret): refused before any MAC.
    CHECK(jose::verify(alg::HS256, rsa, "a.b", std::string(32, 'x')) == errc::alg_key_mismatch);
    CHECK(jose::verify(alg::RS256, hs, "a.b", std::string(256, 'x')) == errc::alg_key_mismatch);
    CHECK(jose::verify(alg::ES384, ec, "a.b", std::string(96, 'x')) == errc::alg_key_mismatch);
    CHECK(jose::verify(alg::EdDSA, ec, "a.b", std::string(64, 'x')) == errc::alg_key_mismatch);
    CHECK(jose::verify(alg::none, hs, "a.b", "") == errc::alg_none);
    CHECK(jose::sign(alg::HS256, rsa, "x", sig) == errc::alg_key_mismatch);
    jose::jwk_set keys;
    keys.add(public_of(rsa));
    // An HS256 token with the RSA key's kid: no usable key.
    std::string token;
    REQUIRE_FALSE(jose::sign_compact(alg::HS256, jose::jwk::from_secret(std::string(32, 's')), "{}",
                                     token, {}, R"("kid":"k1")"));
    jose::jws j;
    REQUIRE_FALSE(jose::jws::parse(token, j));
    CHECK(jose::verify_signature(j, keys, all_algs) == errc::key_not_found);
}

TEST_CASE("jws: ES signatures are P1363 of the exact length with r, s in range", "[jose][jws]") {
    const jose::jwk priv = make_key(alg::ES256);
    const jose::jwk pub = public_of(priv);
    const std::string input = "eyJhbGciOiJFUzI1NiJ9.e30";
    std::string sig;
    REQUIRE_FALSE(jose::sign(alg::ES256, priv, input, sig));
    REQUIRE(sig.size() == 64);
    CHECK_FALSE(jose::verify(alg::ES256, pub, input, sig));
    CHECK(jose::verify(alg::ES256, pub, input, sig.substr(0, 63)) == errc::signature_invalid);
    CHECK(jose::verify(alg::ES256, pub, input, sig + '\0') == errc::signature_invalid);
    CHECK(jose::verify(alg::ES256, pub, input, '\0' + sig) == errc::signature_invalid);
    std::string r0 = sig, s0 = sig;
    std::fill(r0.begin(), r0.begin() + 32, '\0');
    std::fill(s0.begin() + 32, s0.end(), '\0');
    CHECK(jose::verify(alg::ES256, pub, input, r0) == errc::signature_invalid);
    CHECK(jose::verify(alg::ES256, pub, input, s0) == errc::signature_invalid);
    // r = n, s + n does not fit: use r >= n (all 0xff).
    std::string rbig = sig;
    std::fill(rbig.begin(), rbig.begin() + 32, '\xff');
    CHECK(jose::verify(alg::ES256, pub, input, rbig) == errc::signature_invalid);
    const std::string order("\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"
                            "\xbc\xe6\xfa\xad\xa7\x17\x9e\x84\xf3\xb9\xca\xc2\xfc\x63\x25\x51",
                            32);
    REQUIRE(order.size() == 32);
    CHECK(jose::verify(alg::ES256, pub, input, order + sig.substr(32)) == errc::signature_invalid);
    CHECK(jose::verify(alg::ES256, pub, input, sig.substr(0, 32) + order) ==
          errc::signature_invalid);
    // The DER form of the same signature is refused.
    std::string der = "\x30\x44\x02\x20" + sig.substr(0, 32) + "\x02\x20" + sig.substr(32);
    der[1] = static_cast<char>(der.size() - 2);
    CHECK(jose::verify(alg::ES256, pub, input, der) == errc::signature_invalid);
    // Still verifies afterwards.
    CHECK_FALSE(jose::verify(alg::ES256, pub, input, sig));
}

TEST_CASE("jws: header rules", "[jose][jws]") {
    CHECK(parse(with_header(R"({"alg":"none"})", "{}", "")) == errc::alg_none);
    CHECK(parse(with_header(R"({"alg":"HS999"})")) == errc::alg_unsupported);
    CHECK(parse(with_header(R"({"alg":"hs256"})")) == errc::alg_unsupported);
    CHECK(parse(with_header(R"({"typ":"JWT"})")) == errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":256})")) == errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":"HS256","kid":1})")) == errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":"HS256","alg":"HS256"})")) == errc::json_duplicate_member);
    CHECK(parse(with_header(R"({"alg":"HS256","alg":"none"})")) == errc::json_duplicate_member);
    CHECK(parse(with_header(R"({"alg":"HS256","jwk":{"kty":"EC","kty":"oct"}})")) ==
          errc::json_duplicate_member);
    CHECK(parse(with_header(R"({"alg":"HS256","x":[{"a":1,"a":1}]})")) ==
          errc::json_duplicate_member);
    CHECK(parse(with_header(R"({"alg":"HS256","x":[[[[[[[[[[1]]]]]]]]]]})")) ==
          errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":"HS256","x":[[[1]]],"y":{"z":{}}})")) == std::error_code());
    CHECK(parse(with_header(R"({"alg":"HS256","b64":true})")) == std::error_code());
    CHECK(parse(with_header(R"({"alg":"HS256","b64":"false"})")) == errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":"HS256","crit":["b64",1]})")) == errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":"HS256","crit":["exp"],"exp":1})")) ==
          errc::crit_unsupported);
    CHECK(parse(with_header(R"({"alg":"HS256","crit":[]})")) == errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":"HS256","crit":"exp"})")) == errc::jws_malformed);
    CHECK(parse(with_header(R"({"alg":"HS256","b64":false,"crit":["b64"]})")) ==
          errc::b64_unsupported);
    CHECK(parse(with_header(R"({"alg":"HS256","b64":false})")) == errc::b64_unsupported);
    CHECK(parse(with_header(R"({"alg":"HS256"} )")) == std::error_code());
    CHECK(parse(with_header(R"({"alg":"HS256"}x)")) == errc::jws_malformed);
    CHECK(parse(with_header(R"(["alg"])")) == errc::jws_malformed);
    CHECK(parse(with_header("{\"alg\":\"HS256\",\"x\":\"\xff\"}")) == errc::jws_malformed);
    // RFC 7515 A.5 (unsecured JWS).
    CHECK(parse("eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9"
                "leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.") == errc::alg_none);
}

TEST_CASE("jws: compact form and base64url strictness", "[jose][jws]") {
    const std::string ok = with_header(R"({"alg":"HS256"})");
    CHECK_FALSE(parse(ok));
    CHECK(parse("") == errc::jws_malformed);
    CHECK(parse("a.b") == errc::jws_malformed);
    CHECK(parse(ok + ".x") == errc::jws_malformed); // four parts (JWE has five)
    CHECK(parse("." + ok) == errc::jws_malformed);
    CHECK(parse(ok + "=") == errc::jws_malformed); // padding
    CHECK(parse(ok + "+") == errc::jws_malformed); // base64 alphabet
    CHECK(parse(" " + ok) == errc::jws_malformed); // whitespace
    CHECK(parse(ok + "\n") == errc::jws_malformed);
    std::string bits = with_header(R"({"alg":"HS256"})", "{}", "c2lo"); // "sih"
    CHECK_FALSE(parse(bits));
    CHECK(parse(with_header(R"({"alg":"HS256"})", "{}", "c2k")) == std::error_code());
    CHECK(parse(with_header(R"({"alg":"HS256"})", "{}", "c2l")) == errc::jws_malformed);
    jose::parse_options small;
    small.max_token_bytes = 10;
    jose::jws j;
    CHECK(jose::jws::parse(ok, j, small) == errc::input_too_large);
}

TEST_CASE("jws: jku, x5u, x5c and jwk headers are ignored", "[jose][jws]") {
    const jose::jwk trusted = make_key(alg::ES256, "trusted");
    const jose::jwk attacker = make_key(alg::ES256, "trusted");
    jose::jwk_set keys;
    keys.add(public_of(trusted));
    const std::string extra =
        R"("jku":"https://attacker.example/jwks","x5u":"https://a.example/c",)"
        R"("x5c":["MIIB"],"jwk":)" +
        public_of(attacker).public_json();
    std::string token;
    REQUIRE_FALSE(jose::sign_compact(alg::ES256, trusted, "{}", token, {}, extra));
    jose::jws j;
    REQUIRE_FALSE(jose::jws::parse(token, j));
    CHECK_FALSE(jose::verify_signature(j, keys, all_algs)); // the set's key decides
    // Signed by the attacker's key, which is embedded in the header: refused.
    REQUIRE_FALSE(jose::sign_compact(alg::ES256, attacker, "{}", token, {}, extra));
    REQUIRE_FALSE(jose::jws::parse(token, j));
    CHECK(jose::verify_signature(j, keys, all_algs) == errc::signature_invalid);
}

TEST_CASE("jws: verification is thread safe on a shared key", "[jose][jws]") {
    for (alg a : {alg::HS256, alg::ES256, alg::EdDSA, alg::PS256}) {
        const jose::jwk priv = make_key(a);
        const jose::jwk pub = public_of(priv);
        std::string token;
        REQUIRE_FALSE(jose::sign_compact(a, priv, "payload", token));
        jose::jws j;
        REQUIRE_FALSE(jose::jws::parse(token, j));
        std::string bad(j.signature());
        bad[3] = static_cast<char>(bad[3] ^ 1);
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 50; ++i) {
                    if (jose::verify(a, pub, j.signing_input(), j.signature()))
                        ++failures;
                    if (!jose::verify(a, pub, j.signing_input(), bad))
                        ++failures;
                }
            });
        for (auto& t : threads)
            t.join();
        CHECK(failures == 0);
    }
}
