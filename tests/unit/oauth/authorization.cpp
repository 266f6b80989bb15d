#include <oidc/authorization.hpp>
#include <oidc/http/url.hpp>

#include "catch.hpp"

#include <map>

namespace {
std::map<std::string, std::string> query_of(const std::string& url) {
    std::error_code ec;
    auto pairs = oidc::http::parse_query(url.substr(url.find('?') + 1), ec);
    REQUIRE_FALSE(ec);
    std::map<std::string, std::string> m;
    for (auto& [k, v] : pairs) {
        REQUIRE(m.count(k) == 0);
        m[k] = v;
    }
    return m;
}
const std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
} // namespace

TEST_CASE("PKCE S256: RFC 7636 appendix B vector", "[oauth][authorization]") {
    CHECK(oidc::pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    auto p = oidc::make_pkce();
    CHECK(p.verifier.size() == 43);
    CHECK(p.challenge == oidc::pkce_challenge(p.verifier));
    CHECK(oidc::make_pkce().verifier != p.verifier);
    CHECK(oidc::make_state().size() == 43);
    CHECK(oidc::make_state() != oidc::make_state());
}

TEST_CASE("authorization request URL", "[oauth][authorization]") {
    oidc::authorization_params p;
    p.redirect_uri = "http://127.0.0.1:8080/callback";
    p.scope = "openid profile";
    p.prompt = "login";
    p.extra = {{"ui_locales", "fr en"}};
    oidc::authorization_request r;
    REQUIRE_FALSE(oidc::build_authorization_request("https://op.example/auth?realm=x", "app", p,
                                                    "st4te", "n0nce", verifier, r));
    CHECK(r.url.rfind("https://op.example/auth?realm=x&response_type=code&", 0) == 0);
    auto q = query_of(r.url);
    CHECK(q["realm"] == "x");
    CHECK(q["response_type"] == "code");
    CHECK(q["client_id"] == "app");
    CHECK(q["redirect_uri"] == "http://127.0.0.1:8080/callback");
    CHECK(q["scope"] == "openid profile");
    CHECK(q["state"] == "st4te");
    CHECK(q["nonce"] == "n0nce");
    CHECK(q["code_challenge"] == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    CHECK(q["code_challenge_method"] == "S256");
    CHECK(q["prompt"] == "login");
    CHECK(q["ui_locales"] == "fr en");
    CHECK(q.count("code_verifier") == 0); // the verifier never leaves the client here
    CHECK(r.state == "st4te");
    CHECK(r.nonce == "n0nce");
    CHECK(r.code_verifier == verifier);
    CHECK(r.redirect_uri == p.redirect_uri);

    // Plain OAuth (no openid scope): no nonce; PKCE off: no challenge.
    p.scope = "api";
    p.use_pkce = false;
    p.extra.clear();
    p.prompt.clear();
    REQUIRE_FALSE(
        oidc::build_authorization_request("https://op.example/auth", "app", p, "s", "n", "", r));
    q = query_of(r.url);
    CHECK(q.count("nonce") == 0);
    CHECK(q.count("code_challenge") == 0);
    CHECK(r.nonce.empty());
    CHECK(r.code_verifier.empty());
}

TEST_CASE("authorization request: bad input", "[oauth][authorization]") {
    oidc::authorization_params p;
    p.redirect_uri = "http://127.0.0.1/cb";
    oidc::authorization_request r;
    CHECK(oidc::build_authorization_request("not a url", "app", p, "s", "n", verifier, r) ==
          oidc::errc::url_invalid);
    CHECK(oidc::build_authorization_request("https://op/auth", "", p, "s", "n", verifier, r) ==
          oidc::errc::invalid_request);
    CHECK(oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", "short", r) ==
          oidc::errc::invalid_request);
    p.extra = {{"state", "evil"}};
    CHECK(oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", verifier, r) ==
          oidc::errc::invalid_request);
    p.extra.clear();
    p.redirect_uri.clear();
    CHECK(oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", verifier, r) ==
          oidc::errc::invalid_request);
}

TEST_CASE("callback parsing", "[oauth][authorization]") {
    oidc::callback_result cb;
    oidc::diagnostics d;
    REQUIRE_FALSE(oidc::parse_callback("http://127.0.0.1/cb?code=abc%2B1&state=xyz&iss=https%3A%"
                                       "2F%2Fop",
                                       "xyz", "https://op", cb, d));
    CHECK(cb.code == "abc+1");
    CHECK(cb.state == "xyz");
    CHECK(cb.iss == "https://op");
    REQUIRE_FALSE(oidc::parse_callback("?state=xyz&code=c", "xyz", "", cb, d));
    CHECK(cb.code == "c");
    REQUIRE_FALSE(oidc::parse_callback("code=c&state=xyz#frag", "xyz", "", cb, d));

    CHECK(oidc::parse_callback("http://h/cb?code=c&state=other", "xyz", "", cb, d) ==
          oidc::errc::state_mismatch);
    CHECK(oidc::parse_callback("http://h/cb?code=c", "xyz", "", cb, d) ==
          oidc::errc::state_mismatch);
    CHECK(oidc::parse_callback("http://h/cb?code=c&state=", "", "", cb, d) ==
          oidc::errc::state_mismatch);
    CHECK(oidc::parse_callback("http://h/cb", "xyz", "", cb, d) == oidc::errc::state_mismatch);
    CHECK(oidc::parse_callback("http://h/cb?state=xyz", "xyz", "", cb, d) ==
          oidc::errc::invalid_request);
    CHECK(oidc::parse_callback("http://h/cb?code=a&code=b&state=xyz", "xyz", "", cb, d) ==
          oidc::errc::url_invalid);
    CHECK(oidc::parse_callback("http://h/cb?code=%zz&state=xyz", "xyz", "", cb, d) ==
          oidc::errc::url_invalid);
    CHECK(oidc::parse_callback("http://h/cb?code=c&state=xyz&iss=https%3A%2F%2Fevil", "xyz",
                               "https://op", cb, d) == oidc::errc::issuer_mismatch);

    // Error responses: state checked first, then the error with its untrusted texts.
    CHECK(oidc::parse_callback("http://h/cb?error=access_denied&state=forged", "xyz", "", cb, d) ==
          oidc::errc::state_mismatch);
    CHECK(oidc::parse_callback("http://h/cb?error=access_denied&error_description=User+said+no%"
                               "0A&state=xyz",
                               "xyz", "", cb, d) == oidc::errc::access_denied);
    CHECK(d.error == "access_denied");
    CHECK(d.error_description == "User said no?");
    CHECK(oidc::parse_callback("http://h/cb?error=login_required&state=xyz", "xyz", "", cb, d) ==
          oidc::errc::login_required);
    CHECK(oidc::parse_callback("http://h/cb?error=weird&state=xyz", "xyz", "", cb, d) ==
          oidc::errc::oauth_error_other);
}

TEST_CASE("end_session URL", "[oauth][authorization]") {
    CHECK(oidc::build_end_session_url("https://op/logout", "a.b.c", "http://127.0.0.1/bye", "s 1",
                                      "app") ==
          "https://op/logout?id_token_hint=a.b.c&post_logout_redirect_uri=http%3A%2F%2F127.0.0."
          "1%2Fbye&state=s+1&client_id=app");
    CHECK(oidc::build_end_session_url("https://op/logout?x=1", "", "", "", "") ==
          "https://op/logout?x=1");
    CHECK(oidc::build_end_session_url("https://op/logout?x=1", "t", "", "", "") ==
          "https://op/logout?x=1&id_token_hint=t");
}
