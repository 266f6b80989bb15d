#include <oidc/discovery.hpp>

#include "catch.hpp"

TEST_CASE("discovery: metadata URLs", "[oauth][discovery]") {
    CHECK(oidc::metadata_url("https://idp.example/auth/realms/eat_realm") ==
          "https://idp.example/auth/realms/eat_realm/.well-known/openid-configuration");
    CHECK(oidc::metadata_url("https://idp.example/") ==
          "https://idp.example/.well-known/openid-configuration");
    CHECK(oidc::metadata_url("https://idp.example/tenant/1", oidc::metadata_kind::oauth_server) ==
          "https://idp.example/.well-known/oauth-authorization-server/tenant/1");
    CHECK(oidc::metadata_url("https://idp.example", oidc::metadata_kind::oauth_server) ==
          "https://idp.example/.well-known/oauth-authorization-server");
}

TEST_CASE("discovery: metadata document", "[oauth][discovery]") {
    const char* doc = R"({
      "issuer":"https://idp.example/realms/r",
      "authorization_endpoint":"https://idp.example/realms/r/auth",
      "token_endpoint":"https://idp.example/realms/r/token",
      "jwks_uri":"https://idp.example/realms/r/certs",
      "grant_types_supported":["authorization_code","password"],
      "code_challenge_methods_supported":["S256"],
      "x_vendor":{"a":1}
    })";
    oidc::provider_metadata m;
    REQUIRE_FALSE(oidc::parse_provider_metadata(doc, "https://idp.example/realms/r", m));
    CHECK(m.token_endpoint == "https://idp.example/realms/r/token");
    CHECK(m.userinfo_endpoint.empty());
    CHECK(oidc::provider_metadata::contains(m.grant_types_supported, "password"));
    CHECK_FALSE(oidc::provider_metadata::contains(m.grant_types_supported, "implicit"));
    CHECK(m.member("x_vendor")->find("a")->as_integer() == 1);

    // The issuer must match exactly: no trailing slash, no case folding.
    CHECK(oidc::parse_provider_metadata(doc, "https://idp.example/realms/r/", m) ==
          oidc::errc::issuer_metadata_mismatch);
    CHECK(oidc::parse_provider_metadata(doc, "https://IDP.example/realms/r", m) ==
          oidc::errc::issuer_metadata_mismatch);
    CHECK(oidc::parse_provider_metadata(R"({"token_endpoint":"x"})", "x", m) ==
          oidc::errc::claim_missing);
    CHECK(oidc::parse_provider_metadata(R"({"issuer":"x","jwks_uri":5})", "x", m) ==
          oidc::errc::json_wrong_type);
    CHECK(oidc::parse_provider_metadata(R"({"issuer":"x","scopes_supported":[1]})", "x", m) ==
          oidc::errc::json_wrong_type);
    CHECK(oidc::parse_provider_metadata(R"({"issuer":"x","issuer":"x"})", "x", m) ==
          oidc::errc::json_duplicate_member);
}

TEST_CASE("discovery: pushed authorization request metadata (RFC 9126 5)", "[oauth][discovery]") {
    oidc::provider_metadata m;
    REQUIRE_FALSE(oidc::parse_provider_metadata(
        R"({"issuer":"x","pushed_authorization_request_endpoint":"https://idp/par",
            "require_pushed_authorization_requests":true})",
        "x", m));
    CHECK(m.pushed_authorization_request_endpoint == "https://idp/par");
    CHECK(m.require_pushed_authorization_requests);
    REQUIRE_FALSE(oidc::parse_provider_metadata(R"({"issuer":"x"})", "x", m));
    CHECK(m.pushed_authorization_request_endpoint.empty());
    CHECK_FALSE(m.require_pushed_authorization_requests);
    CHECK(oidc::parse_provider_metadata(
              R"({"issuer":"x","require_pushed_authorization_requests":"true"})", "x", m) ==
          oidc::errc::json_wrong_type);
    CHECK(
        oidc::parse_provider_metadata(R"({"issuer":"x","pushed_authorization_request_endpoint":1})",
                                      "x", m) == oidc::errc::json_wrong_type);
}
