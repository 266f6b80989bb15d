#include <oidc/error.hpp>

#include "catch.hpp"

TEST_CASE("errc values live in the oidc category with names and messages") {
    std::error_code ec = oidc::errc::token_expired;
    CHECK(ec.category().name() == std::string("oidc"));
    CHECK(oidc::error_name(ec) == "token_expired");
    CHECK(ec.message() == "token expired");
    CHECK(ec == oidc::errc::token_expired);
    CHECK(ec != oidc::errc::signature_invalid);
    CHECK(oidc::error_name(std::make_error_code(std::errc::timed_out)).empty());
}

TEST_CASE("oauth_error carries diagnostics and its text names the status, not the server text") {
    oidc::diagnostics d;
    d.error = "invalid_grant";
    d.error_description = "secret-looking server text";
    d.http_status = 400;
    oidc::oauth_error e(oidc::errc::invalid_grant, d);
    CHECK(e.code() == oidc::errc::invalid_grant);
    CHECK(e.diag().http_status == 400);
    CHECK(std::string(e.what()).find("secret-looking") == std::string::npos);
    CHECK(std::string(e.what()).find("400") != std::string::npos);
}
