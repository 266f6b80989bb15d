#include <oidc/grants.hpp>
#include <oidc/token.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {
const oidc::clock::time_point t0{std::chrono::seconds(1'700'000'000)};

// The shape of the Keycloak password-grant answer of the project's seed story.
const char* keycloak_body = R"({
    "access_token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    "expires_in": 1800,
    "refresh_expires_in": 1800,
    "refresh_token":"eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    "token_type": "bearer",
    "not-before-policy": 1550670103,
    "session_state": "9ba3aaf4-3b54-49e7-92b0-19900d15a9eb",
    "scope": "profile email"
})";
} // namespace

TEST_CASE("token response: Keycloak password grant", "[oauth][token]") {
    oidc::token_set t;
    oidc::diagnostics d;
    REQUIRE_FALSE(oidc::parse_token_response(keycloak_body, 200, t0, t, d));
    CHECK(t.access_token == "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    CHECK(t.token_type == "bearer");
    REQUIRE(t.expires_at);
    CHECK(*t.expires_at == t0 + 1800s);
    REQUIRE(t.refresh_expires_at);
    CHECK(*t.refresh_expires_at == t0 + 1800s);
    CHECK(t.scope == "profile email");
    CHECK(t.id_token.empty());
    CHECK(t.member_json("session_state") == "\"9ba3aaf4-3b54-49e7-92b0-19900d15a9eb\"");
    CHECK(t.member("not-before-policy")->as_integer() == 1550670103);
    CHECK(t.member("nope") == nullptr);
    CHECK(t.access_valid(t0 + 1700s, 60s));
    CHECK_FALSE(t.access_valid(t0 + 1750s, 60s));
    CHECK(t.refresh_valid(t0 + 1799s));
    CHECK_FALSE(t.refresh_valid(t0 + 1800s));
    oidc::token_set copy = t;
    CHECK(copy.member("session_state") != nullptr);
}

TEST_CASE("token response: optional members and lenient lifetimes", "[oauth][token]") {
    oidc::token_set t;
    oidc::diagnostics d;
    REQUIRE_FALSE(oidc::parse_token_response(
        R"({"access_token":"a","token_type":"Bearer","expires_in":"3600","refresh_expires_in":0})",
        200, t0, t, d));
    CHECK(*t.expires_at == t0 + 3600s);
    CHECK_FALSE(t.refresh_expires_at); // Keycloak offline tokens: 0 means no known expiry
    REQUIRE_FALSE(
        oidc::parse_token_response(R"({"access_token":"a","token_type":"Bearer"})", 200, t0, t, d));
    CHECK_FALSE(t.expires_at);
    CHECK(t.access_valid(t0 + 1000000s));
}

TEST_CASE("token response: malformed successes are refused", "[oauth][token]") {
    oidc::token_set t;
    oidc::diagnostics d;
    auto parse = [&](const char* body) {
        return oidc::parse_token_response(body, 200, t0, t, d);
    };
    CHECK(parse(R"({"token_type":"Bearer"})") == oidc::errc::token_response_invalid);
    CHECK(parse(R"({"access_token":"","token_type":"Bearer"})") ==
          oidc::errc::token_response_invalid);
    CHECK(parse(R"({"access_token":"a"})") == oidc::errc::token_response_invalid);
    CHECK(parse(R"({"access_token":1,"token_type":"Bearer"})") ==
          oidc::errc::token_response_invalid);
    CHECK(parse(R"({"access_token":"a","token_type":"Bearer","expires_in":-5})") ==
          oidc::errc::token_response_invalid);
    CHECK(parse(R"({"access_token":"a","token_type":"Bearer","expires_in":"12x"})") ==
          oidc::errc::token_response_invalid);
    // Lifetimes as non-integral numbers: bounded before any conversion (1e300 does not fit
    // in 64 bits; UBSan reported the conversion before the bound).
    for (const char* n : {"1e300", "-1e300", "1e19", "9.3e18", "-0.5", "315360001.0"}) {
        INFO(n);
        CHECK(parse((std::string(R"({"access_token":"a","token_type":"Bearer","expires_in":)") + n +
                     "}")
                        .c_str()) == oidc::errc::token_response_invalid);
    }
    REQUIRE_FALSE(parse(R"({"access_token":"a","token_type":"Bearer","expires_in":299.9})"));
    CHECK(t.expires_at == t0 + std::chrono::seconds(299));
    CHECK(oidc::parse_device_authorization(
              R"({"device_code":"d","user_code":"u","verification_uri":"https://v",)"
              R"("expires_in":600,"interval":1e300})",
              200, t0, *std::make_unique<oidc::device_authorization>(),
              d) == oidc::errc::token_response_invalid);
    CHECK(parse(R"({"access_token":"a","token_type":"Bearer","refresh_token":{}})") ==
          oidc::errc::token_response_invalid);
    CHECK(parse(R"({"access_token":"a","access_token":"b","token_type":"Bearer"})") ==
          oidc::errc::json_duplicate_member);
    CHECK(parse("<html>") == oidc::errc::json_invalid);
    CHECK(d.http_status == 200);
}

TEST_CASE("token response: OAuth errors become codes with untrusted diagnostics",
          "[oauth][token]") {
    oidc::token_set t;
    oidc::diagnostics d;
    auto ec = oidc::parse_token_response(
        R"({"error":"invalid_grant","error_description":"Invalid user\ncredentials","error_uri":"https://x/e"})",
        400, t0, t, d);
    CHECK(ec == oidc::errc::invalid_grant);
    CHECK(d.http_status == 400);
    CHECK(d.error == "invalid_grant");
    CHECK(d.error_description == "Invalid user?credentials");
    CHECK(d.error_uri == "https://x/e");
    CHECK(oidc::parse_token_response(R"({"error":"slow_down"})", 400, t0, t, d) ==
          oidc::errc::slow_down);
    CHECK(oidc::parse_token_response(R"({"error":"invalid_client"})", 401, t0, t, d) ==
          oidc::errc::invalid_client);
    CHECK(oidc::parse_token_response(R"({"error":"unsupported_token_type"})", 400, t0, t, d) ==
          oidc::errc::unsupported_token_type);
    CHECK(oidc::parse_token_response(R"({"error":"weird_thing"})", 400, t0, t, d) ==
          oidc::errc::oauth_error_other);
    CHECK(d.error == "weird_thing");
    CHECK(oidc::parse_token_response("Bad Gateway", 502, t0, t, d) ==
          oidc::errc::http_status_unexpected);
    CHECK(d.http_status == 502);
    CHECK(d.error.empty());
}
