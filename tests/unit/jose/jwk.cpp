#include <oidc/jose/jwks.hpp>
#include <oidc/jose/jws.hpp>

#include "catch.hpp"

#include <openssl/evp.h>

#include <string>

namespace jose = oidc::jose;
using oidc::errc;

namespace {

// RFC 7638 section 3.1 (also RFC 7517 appendix A.1).
constexpr std::string_view rfc7638_n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
    "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
    "kEgU8awapJzKnqDKgw";

std::string rfc7638_jwk() {
    return R"({"kty":"RSA","n":")" + std::string(rfc7638_n) +
           R"(","e":"AQAB","alg":"RS256","kid":"2011-04-29"})";
}

// RFC 7515 A.3 P-256 key (public part).
constexpr std::string_view p256_jwk = R"({"kty":"EC","crv":"P-256",
 "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
 "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";

jose::jwk generated(const char* type, const char* param = nullptr) {
    EVP_PKEY* p = nullptr;
    if (param && std::string_view(type) == "RSA")
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(std::stoi(param)));
    else if (param)
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, type, param);
    else
        p = EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    REQUIRE(p != nullptr);
    jose::jwk k;
    auto ec = jose::jwk::from_native(p, k, "gen");
    EVP_PKEY_free(p);
    REQUIRE_FALSE(ec);
    return k;
}

} // namespace

TEST_CASE("jwk: RFC 7638 3.1 thumbprint and members kept", "[jose][jwk]") {
    jose::jwk k;
    REQUIRE_FALSE(jose::jwk::parse(rfc7638_jwk(), k));
    CHECK(k.kty() == jose::key_type::rsa);
    CHECK(k.kid() == "2011-04-29");
    CHECK(k.algorithm() == jose::alg::RS256);
    CHECK(k.bits() == 2048);
    CHECK_FALSE(k.has_private());
    CHECK(k.native_handle() != nullptr);
    CHECK(k.thumbprint() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    CHECK(k.usable_with(jose::alg::RS256));
    CHECK_FALSE(k.usable_with(jose::alg::RS384)); // the key's own alg decides
    CHECK_FALSE(k.usable_with(jose::alg::HS256));
    CHECK_FALSE(k.usable_with(jose::alg::none));
    // public_json round trips to the same thumbprint.
    jose::jwk again;
    REQUIRE_FALSE(jose::jwk::parse(k.public_json(), again));
    CHECK(again.thumbprint() == k.thumbprint());
    CHECK(again.kid() == "2011-04-29");
}

TEST_CASE("jwk: EC, OKP and oct keys", "[jose][jwk]") {
    jose::jwk ec;
    REQUIRE_FALSE(jose::jwk::parse(p256_jwk, ec));
    CHECK(ec.kty() == jose::key_type::ec);
    CHECK(ec.crv() == "P-256");
    CHECK(ec.usable_with(jose::alg::ES256));
    CHECK_FALSE(ec.usable_with(jose::alg::ES384));
    CHECK_FALSE(ec.usable_with(jose::alg::RS256));

    jose::jwk ed;
    REQUIRE_FALSE(jose::jwk::parse(
        R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})", ed));
    CHECK(ed.kty() == jose::key_type::okp);
    CHECK(ed.usable_with(jose::alg::EdDSA));
    // RFC 8037 A.3 thumbprint.
    CHECK(ed.thumbprint() == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");

    jose::jwk oct;
    REQUIRE_FALSE(jose::jwk::parse(
        R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})",
        oct));
    CHECK(oct.kty() == jose::key_type::oct);
    CHECK(oct.bits() == 512);
    CHECK(oct.has_private());
    CHECK(oct.native_handle() == nullptr);
    CHECK(oct.usable_with(jose::alg::HS256));
    CHECK(oct.usable_with(jose::alg::HS512));
    CHECK_FALSE(oct.usable_with(jose::alg::RS256));
    CHECK(oct.public_json().find("\"k\"") == std::string::npos); // never the secret

    auto secret = jose::jwk::from_secret("0123456789abcdef0123456789abcdef");
    CHECK(secret.secret().size() == 32);
    CHECK(secret.usable_with(jose::alg::HS256));
    CHECK_FALSE(secret.usable_with(jose::alg::HS384)); // shorter than the hash (RFC 7518 3.2)
}

TEST_CASE("jwk: rejected keys", "[jose][jwk]") {
    jose::jwk k;
    // RSA below 2048 bits.
    EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024});
    REQUIRE(small);
    CHECK(jose::jwk::from_native(small, k) == errc::jwk_key_too_small);
    EVP_PKEY_free(small);
    // EC point off the curve (y changed).
    CHECK(jose::jwk::parse(R"({"kty":"EC","crv":"P-256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4"})",
                           k) == errc::jwk_point_not_on_curve);
    // Coordinates of the wrong length (RFC 7518 6.2.1.2).
    CHECK(jose::jwk::parse(R"({"kty":"EC","crv":"P-256",
        "x":"AAf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",
                           k) == errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"})", k) ==
          errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"EC","crv":"P-192","x":"AQ","y":"AQ"})", k) ==
          errc::jwk_unsupported);
    CHECK(jose::jwk::parse(R"({"kty":"OKP","crv":"X25519","x":"AQ"})", k) == errc::jwk_unsupported);
    CHECK(jose::jwk::parse(R"({"kty":"OKP","crv":"Ed25519","x":"AQ"})", k) == errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"XYZ"})", k) == errc::jwk_unsupported);
    CHECK(jose::jwk::parse(R"({"n":"AQ"})", k) == errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"oct","k":""})", k) == errc::jwk_key_too_small);
    CHECK(jose::jwk::parse(R"({"kty":"oct","k":"AQ=="})", k) == errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"oct","k":1})", k) == errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"oct","k":"AQ","kid":5})", k) == errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"oct","k":"AQ","key_ops":["sign","sign"]})", k) ==
          errc::jwk_invalid);
    CHECK(jose::jwk::parse(R"({"kty":"oct","k":"AQ","k":"AQ"})", k) == errc::json_duplicate_member);
    // RSA with e = 1 or an even e.
    std::string e1 = rfc7638_jwk();
    e1.replace(e1.find("AQAB"), 4, "AQ");
    CHECK(jose::jwk::parse(e1, k) == errc::jwk_invalid);
}

TEST_CASE("jwk: use, key_ops and alg restrict usage", "[jose][jwk]") {
    const std::string k32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
    jose::jwk k;
    REQUIRE_FALSE(jose::jwk::parse(R"({"kty":"oct","use":"enc","k":")" + k32 + "\"}", k));
    CHECK_FALSE(k.usable_with(jose::alg::HS256));
    REQUIRE_FALSE(jose::jwk::parse(R"({"kty":"oct","key_ops":["sign"],"k":")" + k32 + "\"}", k));
    CHECK_FALSE(k.usable_with(jose::alg::HS256));
    REQUIRE(k.key_ops().size() == 1);
    REQUIRE_FALSE(
        jose::jwk::parse(R"({"kty":"oct","key_ops":["sign","verify"],"k":")" + k32 + "\"}", k));
    CHECK(k.usable_with(jose::alg::HS256));
    REQUIRE_FALSE(jose::jwk::parse(R"({"kty":"oct","alg":"A256GCM","k":")" + k32 + "\"}", k));
    CHECK_FALSE(k.algorithm());
    CHECK_FALSE(k.usable_with(jose::alg::HS256));
    REQUIRE_FALSE(
        jose::jwk::parse(R"({"kty":"oct","alg":"HS256","use":"sig","k":")" + k32 + "\"}", k));
    CHECK(k.usable_with(jose::alg::HS256));
    CHECK(k.use() == "sig");
}

TEST_CASE("jwk: from_native imports private keys of every type", "[jose][jwk]") {
    auto rsa = generated("RSA", "2048");
    CHECK(rsa.has_private());
    CHECK(rsa.kid() == "gen");
    CHECK(rsa.bits() == 2048);
    auto ec = generated("EC", "P-384");
    CHECK(ec.has_private());
    CHECK(ec.crv() == "P-384");
    auto ed = generated("ED25519");
    CHECK(ed.has_private());
    CHECK(ed.crv() == "Ed25519");
    // public_json carries no private member.
    for (const auto* k : {&rsa, &ec, &ed}) {
        jose::jwk pub;
        REQUIRE_FALSE(jose::jwk::parse(k->public_json(), pub));
        CHECK_FALSE(pub.has_private());
        CHECK(pub.thumbprint() == k->thumbprint());
        CHECK(k->public_json().find("\"d\"") == std::string::npos);
    }
}

TEST_CASE("jwk_set: parse, skip and select", "[jose][jwk]") {
    jose::jwk_set s;
    CHECK(jose::jwk_set::parse(R"({"keys":{}})", s) == errc::jwk_set_invalid);
    CHECK(jose::jwk_set::parse(R"({"keys":"x"})", s) == errc::jwk_set_invalid);
    CHECK(jose::jwk_set::parse(R"({})", s) == errc::jwk_set_invalid);
    CHECK(jose::jwk_set::parse(R"([])", s) == errc::json_invalid);

    const std::string doc = R"({"keys":[
        {"kty":"XYZ","kid":"future"},
        {"kty":"RSA","kid":"bad","n":"AQAB","e":"AQAB"},
        )" + rfc7638_jwk() + R"(,
        {"kty":"EC","crv":"P-256","kid":"ec1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty":"oct","kid":"h","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]})";
    REQUIRE_FALSE(jose::jwk_set::parse(doc, s));
    CHECK(s.keys().size() == 3);
    CHECK(s.skipped() == 2);
    REQUIRE(s.select("2011-04-29", jose::alg::RS256));
    CHECK(s.select("2011-04-29", jose::alg::RS256)->kid() == "2011-04-29");
    CHECK(s.select("2011-04-29", jose::alg::HS256) == nullptr); // never HS with RSA
    CHECK(s.select("ec1", jose::alg::ES256) != nullptr);
    CHECK(s.select("", jose::alg::ES256) != nullptr);     // single candidate
    CHECK(s.select("nope", jose::alg::ES256) == nullptr); // kid decides
    CHECK(s.select("h", jose::alg::HS256) != nullptr);
    CHECK(s.select("", jose::alg::ES384) == nullptr);
    // Two usable keys and no kid: ambiguous.
    jose::jwk_set two = s;
    two.add(s.keys()[1]);
    CHECK(two.select("", jose::alg::ES256) == nullptr);
}
