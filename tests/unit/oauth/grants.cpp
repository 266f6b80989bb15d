#include <oidc/grants.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {
std::string form(const oidc::grant& g) {
    std::string body;
    REQUIRE_FALSE(oidc::append_grant_form(g, body));
    return body;
}
const oidc::clock::time_point t0{std::chrono::seconds(1'700'000'000)};
} // namespace

TEST_CASE("grants: form encoding of every grant", "[oauth][grants]") {
    CHECK(form(oidc::password_grant{"alice", "p@ss w+rd", "openid profile", {}}) ==
          "grant_type=password&username=alice&password=p%40ss+w%2Brd&scope=openid+profile");
    CHECK(form(oidc::client_credentials_grant{}) == "grant_type=client_credentials");
    CHECK(form(oidc::client_credentials_grant{"api:read", {{"resource", "https://api/x"}}}) ==
          "grant_type=client_credentials&scope=api%3Aread&resource=https%3A%2F%2Fapi%2Fx");
    CHECK(form(oidc::authorization_code_grant{"c0de", "http://127.0.0.1/cb", "v3rifier", {}}) ==
          "grant_type=authorization_code&code=c0de&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb"
          "&code_verifier=v3rifier");
    CHECK(form(oidc::refresh_token_grant{"rt", "", {}}) ==
          "grant_type=refresh_token&refresh_token=rt");
    CHECK(form(oidc::device_code_grant{"dc", {}}) ==
          "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc");
    oidc::token_exchange_grant te;
    te.subject_token = "st";
    te.audience = "svc";
    CHECK(form(te) == "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
                      "&audience=svc&subject_token=st&subject_token_type=urn%3Aietf%3Aparams%"
                      "3Aoauth%3Atoken-type%3Aaccess_token");
    CHECK(form(oidc::jwt_bearer_grant{"a.b.c", "s", {}}) ==
          "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c"
          "&scope=s");
}

TEST_CASE("grants: grant_type names and needs_user", "[oauth][grants]") {
    CHECK(oidc::grant_type(oidc::password_grant{}) == "password");
    CHECK(oidc::grant_type(oidc::refresh_token_grant{}) == "refresh_token");
    CHECK(oidc::needs_user(oidc::authorization_code_grant{}));
    CHECK(oidc::needs_user(oidc::device_code_grant{}));
    CHECK_FALSE(oidc::needs_user(oidc::password_grant{}));
    CHECK_FALSE(oidc::needs_user(oidc::client_credentials_grant{}));
    CHECK_FALSE(oidc::needs_user(oidc::refresh_token_grant{}));
    CHECK_FALSE(oidc::needs_user(oidc::token_exchange_grant{}));
    CHECK_FALSE(oidc::needs_user(oidc::jwt_bearer_grant{}));
}

TEST_CASE("grants: missing required members and reserved extras are refused", "[oauth][grants]") {
    std::string body;
    CHECK(oidc::append_grant_form(oidc::password_grant{}, body) == oidc::errc::invalid_request);
    body.clear();
    CHECK(oidc::append_grant_form(oidc::refresh_token_grant{}, body) ==
          oidc::errc::invalid_request);
    body.clear();
    CHECK(oidc::append_grant_form(oidc::authorization_code_grant{}, body) ==
          oidc::errc::invalid_request);
    body.clear();
    CHECK(oidc::append_grant_form(oidc::device_code_grant{}, body) == oidc::errc::invalid_request);
    body.clear();
    CHECK(oidc::append_grant_form(oidc::jwt_bearer_grant{}, body) == oidc::errc::invalid_request);
    body.clear();
    oidc::token_exchange_grant te;
    te.subject_token = "st";
    te.actor_token = "at"; // without actor_token_type
    CHECK(oidc::append_grant_form(te, body) == oidc::errc::invalid_request);
    body.clear();
    CHECK(oidc::append_grant_form(oidc::client_credentials_grant{"", {{"grant_type", "password"}}},
                                  body) == oidc::errc::invalid_request);
    body.clear();
    CHECK(oidc::append_grant_form(oidc::client_credentials_grant{"", {{"client_secret", "x"}}},
                                  body) == oidc::errc::invalid_request);
    body.clear();
    CHECK(oidc::append_grant_form(oidc::client_credentials_grant{"", {{"", "x"}}}, body) ==
          oidc::errc::invalid_request);
}

TEST_CASE("device authorization response", "[oauth][grants][device]") {
    oidc::device_authorization d;
    oidc::diagnostics diag;
    REQUIRE_FALSE(oidc::parse_device_authorization(
        R"({"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://x/device",
            "verification_uri_complete":"https://x/device?user_code=WDJB-MJHT",
            "expires_in":1800,"interval":7})",
        200, t0, d, diag));
    CHECK(d.device_code == "dc");
    CHECK(d.user_code == "WDJB-MJHT");
    CHECK(d.verification_uri == "https://x/device");
    CHECK(d.verification_uri_complete == "https://x/device?user_code=WDJB-MJHT");
    CHECK(d.interval == 7s);
    CHECK(d.expires_at == t0 + 1800s);
    CHECK(diag.empty());

    REQUIRE_FALSE(oidc::parse_device_authorization(
        R"({"device_code":"dc","user_code":"U","verification_uri":"https://x","expires_in":60})",
        200, t0, d, diag));
    CHECK(d.interval == 5s); // RFC 8628 3.2 default

    CHECK(oidc::parse_device_authorization(R"({"device_code":"dc","expires_in":60})", 200, t0, d,
                                           diag) == oidc::errc::token_response_invalid);
    CHECK(oidc::parse_device_authorization("nope", 200, t0, d, diag) == oidc::errc::json_invalid);
    CHECK(
        oidc::parse_device_authorization(R"({"error":"invalid_client","error_description":"bad"})",
                                         401, t0, d, diag) == oidc::errc::invalid_client);
    CHECK(diag.http_status == 401);
    CHECK(diag.error_description == "bad");
}

TEST_CASE("device polling decisions (RFC 8628 3.5)", "[oauth][grants][device]") {
    using oidc::device_poll_action;
    const auto exp = t0 + 600s;
    auto d = oidc::decide_device_poll({}, 5s, t0, exp);
    CHECK(d.action == device_poll_action::done);

    d = oidc::decide_device_poll(oidc::errc::authorization_pending, 5s, t0, exp);
    CHECK(d.action == device_poll_action::retry);
    CHECK(d.interval == 5s);

    d = oidc::decide_device_poll(oidc::errc::slow_down, 5s, t0, exp);
    CHECK(d.action == device_poll_action::retry);
    CHECK(d.interval == 10s);
    d = oidc::decide_device_poll(oidc::errc::slow_down, d.interval, t0, exp);
    CHECK(d.interval == 15s);

    d = oidc::decide_device_poll(oidc::errc::expired_token, 5s, t0, exp);
    CHECK(d.action == device_poll_action::fail);
    CHECK(d.error == oidc::errc::device_flow_expired);

    d = oidc::decide_device_poll(oidc::errc::authorization_pending, 5s, exp - 3s, exp);
    CHECK(d.action == device_poll_action::fail);
    CHECK(d.error == oidc::errc::device_flow_expired);

    d = oidc::decide_device_poll(oidc::errc::access_denied, 5s, t0, exp);
    CHECK(d.action == device_poll_action::fail);
    CHECK(d.error == oidc::errc::access_denied);

    d = oidc::decide_device_poll(oidc::errc::timed_out, 5s, t0, exp);
    CHECK(d.action == device_poll_action::fail);
    CHECK(d.error == oidc::errc::timed_out);
}
