#include <oidc/client_auth.hpp>
#include <oidc/jose/claims.hpp>
#include <oidc/jose/jws.hpp>

#include "catch.hpp"

#include <openssl/evp.h>

#include <memory>

using namespace std::chrono_literals;

namespace {
const std::chrono::system_clock::time_point t0{std::chrono::seconds(1'700'000'000)};

oidc::jose::jwk make_ec_key(const char* kid) {
    EVP_PKEY* raw = EVP_EC_gen("P-256");
    REQUIRE(raw != nullptr);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(raw, &EVP_PKEY_free);
    oidc::jose::jwk k;
    REQUIRE_FALSE(oidc::jose::jwk::from_native(pkey.get(), k, kid));
    return k;
}
} // namespace

TEST_CASE("client_secret_basic: RFC 6749 2.3.1 form-encodes id and secret before base64",
          "[oauth][client_auth]") {
    // "a+b/c=d %" -> "a%2Bb%2Fc%3Dd+%25"; base64("my+client:a%2Bb%2Fc%3Dd+%25")
    CHECK(oidc::basic_authorization("my client", "a+b/c=d %") ==
          "Basic bXkrY2xpZW50OmElMkJiJTJGYyUzRGQrJTI1");
    CHECK(oidc::basic_authorization("id", "") == "Basic aWQ6");
    CHECK(oidc::detail::base64_encode("") == "");
    CHECK(oidc::detail::base64_encode("f") == "Zg==");
    CHECK(oidc::detail::base64_encode("fo") == "Zm8=");
    CHECK(oidc::detail::base64_encode("foo") == "Zm9v");
    CHECK(oidc::detail::base64url_nopad("\xfb\xff") == "-_8");

    oidc::http::fields h;
    std::string form = "grant_type=client_credentials";
    REQUIRE_FALSE(oidc::apply_client_auth(oidc::client_secret_basic{"a+b/c=d %"}, "my client",
                                          "https://op/token", t0, h, form));
    CHECK(h.get("Authorization") == "Basic bXkrY2xpZW50OmElMkJiJTJGYyUzRGQrJTI1");
    CHECK(form == "grant_type=client_credentials"); // nothing in the body
}

TEST_CASE("client_secret_post, none and tls_client_auth put client_id in the form",
          "[oauth][client_auth]") {
    oidc::http::fields h;
    std::string form = "grant_type=client_credentials";
    REQUIRE_FALSE(oidc::apply_client_auth(oidc::client_secret_post{"s3 cr&t"}, "app",
                                          "https://op/token", t0, h, form));
    CHECK(form == "grant_type=client_credentials&client_id=app&client_secret=s3+cr%26t");
    CHECK(h.empty());

    form = "x=1";
    REQUIRE_FALSE(
        oidc::apply_client_auth(oidc::auth_none{}, "ea-api-edge", "https://op/token", t0, h, form));
    CHECK(form == "x=1&client_id=ea-api-edge");
    form.clear();
    REQUIRE_FALSE(
        oidc::apply_client_auth(oidc::tls_client_auth{}, "mtls", "https://op/token", t0, h, form));
    CHECK(form == "client_id=mtls");
    CHECK(h.empty());
    CHECK(oidc::apply_client_auth(oidc::auth_none{}, "", "https://op/token", t0, h, form) ==
          oidc::errc::invalid_client);
    CHECK(oidc::auth_method_name(oidc::client_secret_basic{}) == "client_secret_basic");
    CHECK(oidc::auth_method_name(oidc::tls_client_auth{}) == "tls_client_auth");
}

TEST_CASE("private_key_jwt: RFC 7523 client assertion", "[oauth][client_auth]") {
    oidc::private_key_jwt a{make_ec_key("k1"), oidc::jose::alg::ES256, 60s, {}};
    oidc::http::fields h;
    std::string form = "grant_type=client_credentials";
    REQUIRE_FALSE(oidc::apply_client_auth(a, "svc", "https://op/token", t0, h, form));
    CHECK(h.empty());
    std::error_code ec;
    auto pairs = oidc::http::parse_query(form, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(pairs.size() == 4);
    CHECK(pairs[1] == std::pair<std::string, std::string>{"client_id", "svc"});
    CHECK(pairs[2].first == "client_assertion_type");
    CHECK(pairs[2].second == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    CHECK(pairs[3].first == "client_assertion");

    oidc::jose::jws j;
    REQUIRE_FALSE(oidc::jose::jws::parse(pairs[3].second, j));
    CHECK(j.header().algorithm == oidc::jose::alg::ES256);
    CHECK(j.header().kid == "k1");
    oidc::jose::jwk_set keys;
    keys.add(a.key);
    const oidc::jose::alg allowed[] = {oidc::jose::alg::ES256};
    CHECK_FALSE(oidc::jose::verify_signature(j, keys, allowed));
    oidc::jose::claims c;
    REQUIRE_FALSE(oidc::jose::claims::parse(j.payload(), c));
    CHECK(c.iss() == "svc");
    CHECK(c.sub() == "svc");
    REQUIRE(c.aud().size() == 1);
    CHECK(c.aud()[0] == "https://op/token");
    CHECK(c.jti().size() >= 32);
    CHECK(*c.iat() == 1'700'000'000);
    CHECK(*c.exp() == 1'700'000'060);

    // A fresh jti each time; a configured audience wins.
    std::string s1, s2;
    a.audience = "https://op";
    REQUIRE_FALSE(oidc::make_client_assertion(a, "svc", "https://op/token", t0, s1));
    REQUIRE_FALSE(oidc::make_client_assertion(a, "svc", "https://op/token", t0, s2));
    CHECK(s1 != s2);
    REQUIRE_FALSE(oidc::jose::jws::parse(s1, j));
    REQUIRE_FALSE(oidc::jose::claims::parse(j.payload(), c));
    CHECK(c.aud()[0] == "https://op");
}

TEST_CASE("private_key_jwt: a public key cannot sign", "[oauth][client_auth]") {
    auto priv = make_ec_key("k");
    oidc::jose::jwk pub;
    REQUIRE_FALSE(oidc::jose::jwk::parse(priv.public_json(), pub));
    oidc::private_key_jwt a{pub, oidc::jose::alg::ES256, 60s, {}};
    std::string out;
    CHECK(oidc::make_client_assertion(a, "svc", "https://op/token", t0, out) ==
          oidc::errc::key_unusable);
    oidc::http::fields h;
    std::string form;
    CHECK(oidc::apply_client_auth(a, "svc", "https://op/token", t0, h, form) ==
          oidc::errc::key_unusable);
}
