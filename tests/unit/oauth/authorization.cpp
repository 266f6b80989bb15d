#include <oidc/authorization.hpp>
#include <oidc/client.hpp>
#include <oidc/http/url.hpp>

#include "catch.hpp"
#include "test_server.hpp"

#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <openssl/evp.h>

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <vector>

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

TEST_CASE("pushed authorization: the browser URL and the response (RFC 9126 2.2, 4)",
          "[oauth][authorization]") {
    std::string url;
    REQUIRE_FALSE(oidc::build_pushed_authorization_url(
        "https://op.example/auth?realm=x", "app 1", "urn:ietf:params:oauth:request_uri:abc", url));
    CHECK(url == "https://op.example/auth?realm=x&client_id=app+1&request_uri=urn%3Aietf%3Aparams"
                 "%3Aoauth%3Arequest_uri%3Aabc");
    CHECK(oidc::build_pushed_authorization_url("nope", "app", "urn:x", url) ==
          oidc::errc::url_invalid);
    CHECK(oidc::build_pushed_authorization_url("https://op/auth", "", "urn:x", url) ==
          oidc::errc::invalid_request);
    CHECK(oidc::build_pushed_authorization_url("https://op/auth", "app", "", url) ==
          oidc::errc::invalid_request);

    const auto now = oidc::clock::now();
    std::string uri;
    oidc::clock::time_point exp;
    oidc::diagnostics d;
    REQUIRE_FALSE(oidc::parse_pushed_authorization_response(
        R"({"request_uri":"urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c",
            "expires_in":60})",
        201, now, uri, exp, d));
    CHECK(uri == "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c");
    CHECK(exp == now + std::chrono::seconds(60));
    REQUIRE_FALSE(oidc::parse_pushed_authorization_response(
        R"({"request_uri":"urn:a","expires_in":"90"})", 200, now, uri, exp, d));
    CHECK(exp == now + std::chrono::seconds(90));
    for (const char* bad :
         {R"({"expires_in":60})", R"({"request_uri":"","expires_in":60})",
          R"({"request_uri":5,"expires_in":60})", R"({"request_uri":"urn:a"})",
          R"({"request_uri":"urn:a","expires_in":0})", R"({"request_uri":"urn:a","expires_in":-5})",
          R"({"request_uri":"urn:a","expires_in":"soon"})",
          R"({"request_uri":"urn:a","expires_in":null})"}) {
        INFO(bad);
        CHECK(oidc::parse_pushed_authorization_response(bad, 201, now, uri, exp, d) ==
              oidc::errc::token_response_invalid);
    }
    CHECK(oidc::parse_pushed_authorization_response("[1]", 201, now, uri, exp, d));
    CHECK(oidc::parse_pushed_authorization_response(
              R"({"error":"invalid_request","error_description":"redirect_uri not registered"})",
              400, now, uri, exp, d) == oidc::errc::invalid_request);
    CHECK(d.error == "invalid_request");
    CHECK(d.error_description == "redirect_uri not registered");
    CHECK(d.http_status == 400);
    // A 201 is success only with the body: a 302 or a 500 with any body is not.
    CHECK(oidc::parse_pushed_authorization_response(R"({"request_uri":"urn:a","expires_in":60})",
                                                    302, now, uri, exp,
                                                    d) == oidc::errc::http_status_unexpected);
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

TEST_CASE("authorization request: max_age", "[oauth][authorization]") {
    oidc::authorization_params p;
    p.redirect_uri = "http://127.0.0.1/cb";
    oidc::authorization_request r;
    REQUIRE_FALSE(
        oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", verifier, r));
    CHECK(query_of(r.url).count("max_age") == 0);
    CHECK_FALSE(r.max_age);
    p.max_age = std::chrono::seconds(600);
    REQUIRE_FALSE(
        oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", verifier, r));
    CHECK(query_of(r.url)["max_age"] == "600");
    REQUIRE(r.max_age);
    CHECK(*r.max_age == std::chrono::seconds(600));
    p.max_age = std::chrono::seconds(0); // "log in again now"
    REQUIRE_FALSE(
        oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", verifier, r));
    CHECK(query_of(r.url)["max_age"] == "0");
    p.max_age = std::chrono::seconds(-1);
    CHECK(oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", verifier, r) ==
          oidc::errc::invalid_request);
    p.max_age.reset();
    p.extra = {{"max_age", "5"}}; // only through the typed member
    CHECK(oidc::build_authorization_request("https://op/auth", "app", p, "s", "n", verifier, r) ==
          oidc::errc::invalid_request);
}

namespace {

// A loopback provider for handle_callback: GET /jwks serves the public key, any other request
// (the token endpoint) answers with the current ID token.
struct callback_provider {
    oidc::jose::jwk key;
    std::string jwks;
    std::mutex mu;
    std::string id_token;
    oidc_test::test_server server;

    callback_provider() : server([this](oidc_test::server_conn& c, int) { return script(c); }) {
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pk(
            EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
        REQUIRE(pk);
        REQUIRE_FALSE(oidc::jose::jwk::from_native(pk.get(), key, "k1"));
        std::lock_guard<std::mutex> lock(mu);
        jwks = "{\"keys\":[" + key.public_json() + "]}";
    }

    asio::awaitable<void> script(oidc_test::server_conn& c) {
        for (;;) {
            auto req = co_await c.read_request();
            if (req.empty())
                co_return;
            std::string body;
            std::lock_guard<std::mutex> lock(mu);
            if (req.rfind("GET /jwks", 0) == 0) {
                body = jwks;
            } else {
                body = R"({"access_token":"at-1","token_type":"Bearer","expires_in":300,)"
                       R"("id_token":")" +
                       id_token + "\"}";
            }
            if (!co_await c.write(
                    oidc_test::ok_response(body, "Content-Type: application/json\r\n")))
                co_return;
        }
    }

    oidc::client_options options() {
        oidc::client_options o;
        oidc::provider_metadata md;
        md.issuer = "https://op.example";
        md.authorization_endpoint = server.url("/auth");
        md.token_endpoint = server.url("/token");
        md.jwks_uri = server.url("/jwks");
        o.metadata = md;
        o.issuer = md.issuer;
        o.client_id = "app";
        o.id_token_algs = {oidc::jose::alg::ES256};
        o.http.allow_insecure_http = true;
        o.timeout = std::chrono::seconds(5);
        return o;
    }

    // Signs an ID token for `req` with auth_time `age` seconds ago (none when negative).
    void issue(const oidc::authorization_request& req, long age) {
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        std::string claims = R"({"iss":"https://op.example","aud":"app","sub":"u1","exp":)" +
                             std::to_string(now + 300) + R"(,"iat":)" + std::to_string(now) +
                             R"(,"nonce":")" + req.nonce + "\"";
        if (age >= 0)
            claims += ",\"auth_time\":" + std::to_string(now - age);
        claims += "}";
        std::string t;
        REQUIRE_FALSE(oidc::jose::sign_compact(oidc::jose::alg::ES256, key, claims, t));
        std::lock_guard<std::mutex> lock(mu);
        id_token = t;
    }
};

// Runs handle_callback for `req` with the provider's current ID token.
std::error_code complete(oidc::client& c, asio::io_context& ioc,
                         const oidc::authorization_request& req) {
    std::string cb = "http://127.0.0.1/cb?code=c0de&state=" + oidc::http::form_encode(req.state);
    auto fut = c.handle_callback(cb, req, asio::use_future);
    ioc.restart();
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(fut.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    try {
        fut.get();
        return {};
    } catch (const std::system_error& e) {
        return e.code();
    }
}

} // namespace

TEST_CASE("handle_callback applies the request's max_age to the ID token",
          "[oauth][authorization]") {
    callback_provider op;
    asio::io_context ioc;
    oidc::client c(ioc.get_executor(), op.options());
    oidc::authorization_params p;
    p.redirect_uri = "http://127.0.0.1/cb";
    p.max_age = std::chrono::seconds(300);
    auto req = c.authorization_url(p);
    CHECK(query_of(req.url)["max_age"] == "300");
    REQUIRE(req.max_age);

    op.issue(req, 10); // authenticated 10 s ago
    CHECK_FALSE(complete(c, ioc, req));
    op.issue(req, 300 + 30); // older than max_age, within the 60 s leeway
    CHECK_FALSE(complete(c, ioc, req));
    op.issue(req, 300 + 600); // too old: log in again
    CHECK(complete(c, ioc, req) == oidc::errc::auth_too_old);
    op.issue(req, -1); // no auth_time although max_age was requested
    CHECK(complete(c, ioc, req) == oidc::errc::auth_time_missing);

    // Without max_age neither is checked.
    p.max_age.reset();
    auto plain = c.authorization_url(p);
    CHECK(query_of(plain.url).count("max_age") == 0);
    op.issue(plain, -1);
    CHECK_FALSE(complete(c, ioc, plain));
    op.issue(plain, 100000);
    CHECK_FALSE(complete(c, ioc, plain));

    // A client registered with require_auth_time needs auth_time in every ID token.
    auto o = op.options();
    o.require_auth_time = true;
    oidc::client strict(ioc.get_executor(), o);
    op.issue(plain, -1);
    CHECK(complete(strict, ioc, plain) == oidc::errc::auth_time_missing);
    op.issue(plain, 100000);
    CHECK_FALSE(complete(strict, ioc, plain));
}

TEST_CASE("push_authorization: the pushed form names client_id once for every client "
          "authentication; authorization_url() refuses when the provider requires pushing",
          "[oauth][authorization]") {
    std::mutex mu;
    std::vector<std::string> seen;
    oidc_test::test_server srv([&](oidc_test::server_conn& c, int) -> asio::awaitable<void> {
        for (;;) {
            auto req = co_await c.read_request();
            if (req.empty())
                co_return;
            {
                std::lock_guard<std::mutex> lock(mu);
                seen.push_back(req);
            }
            std::string body =
                R"({"request_uri":"urn:ietf:params:oauth:request_uri:r1","expires_in":60})";
            if (!co_await c.write("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                  "Content-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body))
                co_return;
        }
    });
    const int which = GENERATE(0, 1, 2);
    oidc::client_options o;
    oidc::provider_metadata md;
    md.issuer = "https://op.example";
    md.authorization_endpoint = "https://op.example/auth";
    md.token_endpoint = srv.url("/token");
    md.pushed_authorization_request_endpoint = srv.url("/par");
    o.metadata = md;
    o.issuer = md.issuer;
    o.client_id = "app";
    o.http.allow_insecure_http = true;
    o.timeout = std::chrono::seconds(5);
    if (which == 0)
        o.auth = oidc::client_secret_basic{"s3cret"};
    else if (which == 1)
        o.auth = oidc::client_secret_post{"s3cret"};
    else
        o.auth = oidc::auth_none{};
    CAPTURE(which);
    asio::io_context ioc;
    oidc::client c(ioc.get_executor(), o);
    oidc::authorization_params p;
    p.redirect_uri = "http://127.0.0.1/cb";
    p.extra = {{"acr_values", "urn:mace:incommon:iap:silver"}};
    auto fut = c.push_authorization(p, asio::use_future);
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(fut.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    auto r = fut.get();
    CHECK(r.url == "https://op.example/auth?client_id=app&request_uri=urn%3Aietf%3Aparams%3Aoauth"
                   "%3Arequest_uri%3Ar1");
    CHECK(r.request_uri == "urn:ietf:params:oauth:request_uri:r1");
    REQUIRE(seen.size() == 1);
    const std::string& wire = seen[0];
    CHECK(wire.rfind("POST /par HTTP/1.1\r\n", 0) == 0);
    CHECK((wire.find("\r\nAuthorization: Basic ") != std::string::npos) == (which == 0));
    auto form = query_of("?" + wire.substr(wire.find("\r\n\r\n") + 4)); // fails on a repeat
    CHECK(form["client_id"] == "app");
    CHECK(form["response_type"] == "code");
    CHECK(form["redirect_uri"] == "http://127.0.0.1/cb");
    CHECK(form["state"] == r.state);
    CHECK(form["nonce"] == r.nonce);
    CHECK(form["code_challenge"] == oidc::pkce_challenge(r.code_verifier));
    CHECK(form["code_challenge_method"] == "S256");
    CHECK(form["acr_values"] == "urn:mace:incommon:iap:silver");
    CHECK(form.count("client_secret") == (which == 1 ? 1u : 0u));
    CHECK(form.count("request_uri") == 0);
    // "request_uri" is the provider's to give, never an extra parameter.
    p.extra = {{"request_uri", "urn:mine"}};
    oidc::authorization_request tmp;
    CHECK(c.authorization_url(p, tmp) == oidc::errc::invalid_request);

    // A provider that takes pushed requests only.
    md.require_pushed_authorization_requests = true;
    o.metadata = md;
    oidc::client strict(ioc.get_executor(), o);
    p.extra.clear();
    CHECK(strict.authorization_url(p, tmp) == oidc::errc::pushed_authorization_required);
    CHECK(tmp.url.empty());
}
