// oidc::client against the real test provider (tests/integration/provider).
#include <oidc/client.hpp>
#include <oidc/session.hpp>

#include "env.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <sstream>

using namespace std::chrono_literals;
using oidc::net::use_nothrow_awaitable;
using exec = asio::any_io_executor;

namespace {

// GCC 12.2 destroys some temporaries of a co_await full-expression twice (PR 99576): the
// tests pass only named variables or prvalues that initialize a parameter directly.
oidc::grant cc_grant() {
    return oidc::client_credentials_grant{};
}

// Nothing secret may show in an error text or in the diagnostics.
void check_no_secret(const std::error_code& ec, const oidc::diagnostics& d,
                     const std::string& secret) {
    CHECK(ec.message().find(secret) == std::string::npos);
    CHECK(oidc::oauth_error(ec, d).what() == std::string(oidc::oauth_error(ec, d).what()));
    CHECK(std::string(oidc::oauth_error(ec, d).what()).find(secret) == std::string::npos);
    CHECK(d.error.find(secret) == std::string::npos);
    CHECK(d.error_description.find(secret) == std::string::npos);
    CHECK(d.error_uri.find(secret) == std::string::npos);
}

oidc::grant alice(std::string scope = {}) {
    return oidc::password_grant{
        it::env("OIDC_TEST_USER"), it::env("OIDC_TEST_PASSWORD"), std::move(scope), {}};
}

const std::string web_callback = "http://127.0.0.1:8765/callback";

// Alice logs in through the headless browser for `req` (fresh state, nonce and PKCE
// verifier); the redirect URL with the code.
asio::awaitable<std::string> alice_login(const oidc::authorization_request& req) {
    CHECK_FALSE(req.state.empty());
    CHECK_FALSE(req.nonce.empty());
    CHECK_FALSE(req.code_verifier.empty());
    co_return co_await it::headless_login(req.url, it::env("OIDC_TEST_USER"),
                                          it::env("OIDC_TEST_PASSWORD"), web_callback);
}

oidc::client_options basic_opts() {
    return it::options(it::env("OIDC_TEST_BASIC_CLIENT_ID"),
                       oidc::client_secret_basic{it::env("OIDC_TEST_BASIC_CLIENT_SECRET")});
}

} // namespace

TEST_CASE("discover: metadata, cache, issuer mismatch", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, basic_opts());
        CHECK_FALSE(c.metadata());
        auto md = co_await c.discover();
        CHECK(md.issuer == it::env("OIDC_TEST_ISSUER"));
        CHECK(md.token_endpoint == it::env("OIDC_TEST_TOKEN_ENDPOINT"));
        CHECK(md.jwks_uri == it::env("OIDC_TEST_JWKS_URI"));
        CHECK_FALSE(md.userinfo_endpoint.empty());
        CHECK_FALSE(md.device_authorization_endpoint.empty());
        REQUIRE(c.metadata());
        // Cached: a second discovery does not go to the network.
        auto before = co_await it::hook_get("/test/stats");
        auto md2 = co_await c.discover();
        CHECK(md2.token_endpoint == md.token_endpoint);
        CHECK(co_await it::hook_get("/test/stats") == before);

        // The same document fetched for a different issuer string must be refused.
        auto o = basic_opts();
        o.issuer += "/";
        oidc::client bad(ex, o);
        auto [ec, m] = co_await bad.discover(use_nothrow_awaitable);
        CHECK(ec == oidc::errc::issuer_metadata_mismatch);
        CHECK(m.issuer.empty());
        // With use_awaitable the error throws oidc::oauth_error.
        bool thrown = false;
        try {
            co_await bad.discover();
        } catch (const oidc::oauth_error& e) {
            thrown = e.code() == oidc::errc::issuer_metadata_mismatch;
        }
        CHECK(thrown);
    });
}

TEST_CASE("password grant: ea-api-edge at the Keycloak token URL (seed 000)",
          "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        auto o = it::options(it::env("OIDC_TEST_PUBLIC_CLIENT_ID"));
        oidc::provider_metadata md; // a bare token URL, no discovery
        md.token_endpoint = it::env("OIDC_TEST_TOKEN_ENDPOINT");
        o.metadata = md;
        oidc::client c(ex, o);
        auto now = oidc::clock::now();
        auto t = co_await c.get_token(alice());
        CHECK_FALSE(t.access_token.empty());
        CHECK(oidc::http::iequals(t.token_type, "bearer"));
        REQUIRE(t.expires_at);
        CHECK(*t.expires_at > now + 200s);
        CHECK_FALSE(t.refresh_token.empty());
        REQUIRE(t.refresh_expires_at); // Keycloak's refresh_expires_in
        CHECK(*t.refresh_expires_at > now + 1000s);
        CHECK(t.member("refresh_expires_in") != nullptr);
        CHECK(t.access_valid(oidc::clock::now(), 30s));
    });
}

TEST_CASE("password grant: wrong password, wrong secret, no secret in errors",
          "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        const std::string bad_password = "Wr0ng-Pa55word-xyzzy";
        oidc::client c(ex, it::options(it::env("OIDC_TEST_PUBLIC_CLIENT_ID")));
        // Grants are built as named variables: GCC 12 mis-destroys some braced temporaries
        // inside co_await expressions.
        oidc::grant wrong_password =
            oidc::password_grant{it::env("OIDC_TEST_USER"), bad_password, {}, {}};
        oidc::diagnostics d;
        auto [ec, t] = co_await c.get_token(wrong_password, d, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::invalid_grant);
        CHECK(d.error == "invalid_grant");
        CHECK(d.http_status == 400);
        CHECK(t.access_token.empty());
        check_no_secret(ec, d, bad_password);

        // use_awaitable: oauth_error with the diagnostics.
        bool thrown = false;
        try {
            co_await c.get_token(wrong_password);
        } catch (const oidc::oauth_error& e) {
            thrown = true;
            CHECK(e.code() == oidc::errc::invalid_grant);
            CHECK(e.diag().http_status == 400);
            CHECK(std::string(e.what()).find(bad_password) == std::string::npos);
        }
        CHECK(thrown);

        // A wrong client secret: invalid_client, the secret nowhere.
        const std::string bad_secret = "not-the-secret-%+&";
        oidc::client wrong(ex, it::options(it::env("OIDC_TEST_BASIC_CLIENT_ID"),
                                           oidc::client_secret_basic{bad_secret}));
        std::tie(ec, t) = co_await wrong.get_token(cc_grant(), d, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::invalid_client);
        CHECK(d.http_status == 401);
        check_no_secret(ec, d, bad_secret);
    });
}

TEST_CASE("client_credentials: basic (form-encoded secret) and post", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client basic(ex, basic_opts());
        auto t = co_await basic.get_token(cc_grant());
        CHECK_FALSE(t.access_token.empty());
        CHECK(t.refresh_token.empty());

        oidc::client post(
            ex, it::options(it::env("OIDC_TEST_POST_CLIENT_ID"),
                            oidc::client_secret_post{it::env("OIDC_TEST_POST_CLIENT_SECRET")}));
        auto t2 = co_await post.get_token(cc_grant());
        CHECK_FALSE(t2.access_token.empty());
        // Extra parameters pass through (RFC 8707 resource).
        oidc::client_credentials_grant with_resource;
        with_resource.extra.emplace_back("resource", it::env("OIDC_TEST_RESOURCE"));
        auto t3 = co_await post.get_token(with_resource);
        CHECK_FALSE(t3.access_token.empty());
    });
}

TEST_CASE("private_key_jwt and tls_client_auth", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        auto key =
            it::read_private_key(it::env("OIDC_TEST_PKJWT_KEY"), it::env("OIDC_TEST_PKJWT_KID"));
        oidc::client pk(ex,
                        it::options(it::env("OIDC_TEST_PKJWT_CLIENT_ID"),
                                    oidc::private_key_jwt{key, oidc::jose::alg::ES256, 60s, {}}));
        auto t = co_await pk.get_token(cc_grant());
        CHECK_FALSE(t.access_token.empty());

        auto o = it::options(it::env("OIDC_TEST_MTLS_CLIENT_ID"), oidc::tls_client_auth{});
        o.http.tls =
            oidc::make_tls_client_context(it::env("OIDC_TEST_CA"), it::env("OIDC_TEST_CLIENT_CERT"),
                                          it::env("OIDC_TEST_CLIENT_KEY"));
        oidc::client mtls(ex, o);
        auto t2 = co_await mtls.get_token(cc_grant());
        CHECK_FALSE(t2.access_token.empty());

        // Without the certificate the same client is refused.
        oidc::client nocert(
            ex, it::options(it::env("OIDC_TEST_MTLS_CLIENT_ID"), oidc::tls_client_auth{}));
        auto [ec, t3] = co_await nocert.get_token(cc_grant(), use_nothrow_awaitable);
        CHECK(ec == oidc::errc::invalid_client);
    });
}

TEST_CASE("refresh with rotation: the old refresh token is rejected", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, basic_opts());
        auto t1 = co_await c.get_token(alice("openid profile"));
        REQUIRE_FALSE(t1.refresh_token.empty());
        CHECK_FALSE(t1.id_token.empty()); // validated on receipt
        auto t2 = co_await c.refresh(t1);
        CHECK_FALSE(t2.access_token.empty());
        CHECK(t2.access_token != t1.access_token);
        REQUIRE_FALSE(t2.refresh_token.empty());
        if (it::env("OIDC_TEST_RT_ROTATION") != "0") {
            CHECK(t2.refresh_token != t1.refresh_token);
            oidc::diagnostics d;
            oidc::grant old = oidc::refresh_token_grant{t1.refresh_token, {}, {}};
            auto [ec, t3] = co_await c.get_token(old, d, use_nothrow_awaitable);
            CHECK(ec == oidc::errc::invalid_grant);
            check_no_secret(ec, d, t1.refresh_token);
        }
    });
}

TEST_CASE("authorization code flow: headless login, callback, userinfo, logout URL",
          "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(
            ex, it::options(it::env("OIDC_TEST_WEB_CLIENT_ID"),
                            oidc::client_secret_basic{it::env("OIDC_TEST_WEB_CLIENT_SECRET")}));
        oidc::authorization_request tmp;
        CHECK(c.authorization_url({}, tmp) == oidc::errc::endpoint_not_supported);
        co_await c.discover();
        oidc::authorization_params p;
        p.redirect_uri = web_callback;
        p.scope = "openid profile email";
        auto req = c.authorization_url(p);
        auto cb = co_await alice_login(req);
        CHECK(cb.find("code=") != std::string::npos);

        // A forged state is refused before anything is sent.
        auto forged = req;
        forged.state = "forged";
        auto [ec0, t0] = co_await c.handle_callback(cb, forged, use_nothrow_awaitable);
        CHECK(ec0 == oidc::errc::state_mismatch);

        auto t = co_await c.handle_callback(cb, req);
        CHECK_FALSE(t.access_token.empty());
        CHECK_FALSE(t.id_token.empty());
        CHECK_FALSE(t.refresh_token.empty());

        // userinfo: sub matches the ID token's.
        auto ui = co_await c.userinfo(t);
        CHECK(ui.sub == it::env("OIDC_TEST_USER_SUB"));
        REQUIRE(ui.member("email") != nullptr);
        CHECK(ui.member("email")->as_string() == it::env("OIDC_TEST_USER_EMAIL"));
        auto [uec, ui2] =
            co_await c.userinfo(t.access_token, "someone-else", use_nothrow_awaitable);
        CHECK(uec == oidc::errc::subject_mismatch);
        oidc::diagnostics d;
        auto [bec, ui3] = co_await c.userinfo("not-a-token", "", use_nothrow_awaitable);
        CHECK(bec == oidc::errc::invalid_token);

        // The code is single use.
        auto [ec1, t1] = co_await c.handle_callback(cb, req, d, use_nothrow_awaitable);
        CHECK(ec1 == oidc::errc::invalid_grant);
        CHECK(d.error == "invalid_grant");

        // An error response (with the right state) becomes its code with diagnostics.
        std::string denied = web_callback + "?error=access_denied&error_description=no&state=" +
                             oidc::http::form_encode(req.state);
        auto [ec2, t2] = co_await c.handle_callback(denied, req, d, use_nothrow_awaitable);
        CHECK(ec2 == oidc::errc::access_denied);
        CHECK(d.error_description == "no");

        auto logout =
            c.end_session_url(t.id_token, it::env("OIDC_TEST_WEB_POST_LOGOUT_URI"), "bye");
        CHECK(logout.rfind(c.metadata()->end_session_endpoint + "?id_token_hint=", 0) == 0);
        CHECK(logout.find("state=bye") != std::string::npos);
    });
}

TEST_CASE("pushed authorization request: the login goes through the request_uri, then the "
          "callback as usual",
          "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        const std::string secret = it::env("OIDC_TEST_WEB_CLIENT_SECRET");
        oidc::client c(
            ex, it::options(it::env("OIDC_TEST_WEB_CLIENT_ID"), oidc::client_secret_basic{secret}));
        oidc::authorization_params p;
        p.redirect_uri = web_callback;
        p.scope = "openid profile email";
        // Discovers the metadata itself.
        auto req = co_await c.push_authorization(p);
        REQUIRE(c.metadata());
        CHECK(c.metadata()->pushed_authorization_request_endpoint ==
              it::env("OIDC_TEST_ISSUER") + "/protocol/openid-connect/ext/par/request");
        CHECK(req.request_uri.rfind("urn:ietf:params:oauth:request_uri:", 0) == 0);
        REQUIRE(req.request_uri_expires_at);
        CHECK(*req.request_uri_expires_at > oidc::clock::now());
        CHECK(*req.request_uri_expires_at < oidc::clock::now() + 10min);
        // The browser sees the client and the reference only.
        CHECK(req.url == c.metadata()->authorization_endpoint + "?client_id=" +
                             oidc::http::form_encode(it::env("OIDC_TEST_WEB_CLIENT_ID")) +
                             "&request_uri=" + oidc::http::form_encode(req.request_uri));
        CHECK(req.url.find("state=") == std::string::npos);
        CHECK(req.url.find("code_challenge") == std::string::npos);
        auto cb = co_await alice_login(req);
        // The provider sent back the pushed state: handle_callback checks it, the nonce
        // (in the ID token) and the PKCE verifier (at the code exchange).
        auto t = co_await c.handle_callback(cb, req);
        CHECK_FALSE(t.access_token.empty());
        CHECK_FALSE(t.id_token.empty());
        auto ui = co_await c.userinfo(t);
        CHECK(ui.sub == it::env("OIDC_TEST_USER_SUB"));

        // The pushed request is bound to its PKCE challenge: another verifier fails.
        auto req2 = co_await c.push_authorization(p);
        auto cb2 = co_await alice_login(req2);
        auto wrong = req2;
        wrong.code_verifier = oidc::make_pkce().verifier;
        oidc::diagnostics d;
        auto [wec, wt] = co_await c.handle_callback(cb2, wrong, d, use_nothrow_awaitable);
        CHECK(wec == oidc::errc::invalid_grant);

        // The provider checks the pushed parameters at once: an unregistered redirect_uri.
        auto bad = p;
        bad.redirect_uri = "http://127.0.0.1:8765/elsewhere";
        auto [bec, breq] = co_await c.push_authorization(bad, d, use_nothrow_awaitable);
        CHECK(bec == oidc::errc::invalid_request);
        INFO(d.error_description);
        CHECK(d.error_description.find("redirect_uri") != std::string::npos);
        CHECK(breq.url.empty());

        // A wrong client secret: the push is authenticated.
        oidc::client wrong_secret(ex, it::options(it::env("OIDC_TEST_WEB_CLIENT_ID"),
                                                  oidc::client_secret_basic{"not-the-secret"}));
        auto [sec, sreq] = co_await wrong_secret.push_authorization(p, d, use_nothrow_awaitable);
        CHECK(sec == oidc::errc::invalid_client);
        check_no_secret(sec, d, secret);
    });
}

namespace {
oidc::dpop_key new_dpop_key() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pk(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    REQUIRE(pk);
    oidc::dpop_key k;
    REQUIRE_FALSE(oidc::jose::jwk::from_native(pk.get(), k.key));
    return k;
}

// The cnf.jkt of a JWT access token (RFC 9449 6.1), or "" when it has none.
std::string bound_key(const std::string& access_token) {
    oidc::jose::jws j;
    REQUIRE_FALSE(oidc::jose::jws::parse(access_token, j));
    oidc::detail::json::value v;
    REQUIRE_FALSE(oidc::detail::json::parse_object(j.payload(), v));
    const auto* cnf = v.find("cnf");
    if (!cnf || !cnf->is_object())
        return {};
    const auto* jkt = cnf->find_string("jkt");
    return jkt ? *jkt : std::string();
}
} // namespace

TEST_CASE("DPoP: tokens bound to the client's key from client_credentials, the pushed code "
          "flow and refresh; userinfo with proofs; the provider's nonce challenges met",
          "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        const auto key = new_dpop_key();
        // Machine to machine: the provider asks for a nonce first (requireNonce), the client
        // answers it and gets a DPoP token bound to its key.
        auto o = basic_opts();
        o.dpop = key;
        oidc::client m2m(ex, o);
        auto t = co_await m2m.get_token(cc_grant());
        CHECK(t.token_type == "DPoP");
        CHECK(bound_key(t.access_token) == key.key.thumbprint());
        // Without a key: a Bearer token, bound to nothing.
        oidc::client plain(ex, basic_opts());
        auto tb = co_await plain.get_token(cc_grant());
        CHECK(tb.token_type == "Bearer");
        CHECK(bound_key(tb.access_token).empty());

        // The code flow, pushed with a proof, exchanged with one; userinfo with proofs.
        auto wo = it::options(it::env("OIDC_TEST_WEB_CLIENT_ID"),
                              oidc::client_secret_basic{it::env("OIDC_TEST_WEB_CLIENT_SECRET")});
        wo.dpop = key;
        oidc::client web(ex, wo);
        oidc::authorization_params p;
        p.redirect_uri = web_callback;
        p.scope = "openid profile email";
        auto req = co_await web.push_authorization(p);
        auto cb = co_await alice_login(req);
        auto tokens = co_await web.handle_callback(cb, req);
        CHECK(tokens.token_type == "DPoP");
        auto ui = co_await web.userinfo(tokens);
        CHECK(ui.sub == it::env("OIDC_TEST_USER_SUB"));
        // The same token without a proof is refused: it is bound to the key.
        oidc::client web_plain(
            ex, it::options(it::env("OIDC_TEST_WEB_CLIENT_ID"),
                            oidc::client_secret_basic{it::env("OIDC_TEST_WEB_CLIENT_SECRET")}));
        auto [bec, bui] =
            co_await web_plain.userinfo(tokens.access_token, std::string(), use_nothrow_awaitable);
        CHECK(bec == oidc::errc::invalid_token);
        // Another key cannot use it either.
        auto other = wo;
        other.dpop = new_dpop_key();
        oidc::client thief(ex, other);
        auto [tec, tui] = co_await thief.userinfo(tokens, use_nothrow_awaitable);
        CHECK(tec == oidc::errc::invalid_token);
        // Refresh with a proof: a new DPoP token.
        REQUIRE_FALSE(tokens.refresh_token.empty());
        auto fresh = co_await web.refresh(tokens);
        CHECK(fresh.token_type == "DPoP");
        auto ui2 = co_await web.userinfo(fresh);
        CHECK(ui2.sub == ui.sub);

        // session::call(): the provider's userinfo endpoint as a DPoP-protected resource,
        // from a stale token set (refreshed with a proof) and then the fresh token.
        oidc::session_options so;
        so.initial = fresh;
        so.initial->expires_at = oidc::clock::now() - 1s;
        oidc::session s({web, cc_grant()}, so);
        oidc::http::request ureq;
        ureq.target = web.metadata()->userinfo_endpoint;
        for (int i = 0; i < 3; ++i) {
            auto r = co_await s.call(ureq);
            INFO(r.status << " " << r.headers.get("WWW-Authenticate").value_or(""));
            CHECK(r.status == 200);
            CHECK(r.body.find(ui.sub) != std::string::npos);
        }
        REQUIRE(s.cached_token());
        CHECK(s.cached_token().tokens().token_type == "DPoP");
        CHECK(s.cached_token().value() != fresh.access_token); // refreshed by the session
    });
}

TEST_CASE("introspection and revocation", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, basic_opts());
        auto t = co_await c.get_token(alice());
        // oidc-provider refuses to introspect or revoke structured (JWT) access tokens: an
        // OAuth error response the caller reads (RFC 7009 2.2.1 unsupported_token_type).
        // Opaque tokens (the refresh token here) go through.
        oidc::diagnostics d;
        auto [iec, i0] = co_await c.introspect(t.access_token, "", d, use_nothrow_awaitable);
        if (iec) {
            CHECK(iec == oidc::errc::unsupported_token_type);
            CHECK(d.error == "unsupported_token_type");
            CHECK(d.http_status == 400);
        } else {
            CHECK(i0.active);
        }
        auto i2 = co_await c.introspect("no-such-token");
        CHECK_FALSE(i2.active);

        auto r1 = co_await c.introspect(t.refresh_token, "refresh_token");
        CHECK(r1.active);
        CHECK(r1.client_id == it::env("OIDC_TEST_BASIC_CLIENT_ID"));
        CHECK(r1.sub == it::env("OIDC_TEST_USER_SUB"));
        CHECK(r1.exp);
        co_await c.revoke(t.refresh_token, "refresh_token");
        auto r2 = co_await c.introspect(t.refresh_token, "refresh_token");
        CHECK_FALSE(r2.active);
        // Revoking twice is fine (RFC 7009 2.2).
        auto [ec] = co_await c.revoke(t.refresh_token, use_nothrow_awaitable);
        CHECK_FALSE(ec);

        std::tie(ec) = co_await c.revoke(t.access_token, "access_token", d, use_nothrow_awaitable);
        if (ec) {
            CHECK(ec == oidc::errc::unsupported_token_type);
            CHECK(d.error == "unsupported_token_type");
        }
    });
}

TEST_CASE("device flow: pending, approval, tokens; slow_down honoured", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run(
        [](exec ex) -> asio::awaitable<void> {
            oidc::client c(ex, it::options(it::env("OIDC_TEST_DEVICE_CLIENT_ID")));
            auto da = co_await c.device_authorize("openid profile");
            CHECK_FALSE(da.user_code.empty());
            CHECK_FALSE(da.verification_uri.empty());
            CHECK(da.expires_at > oidc::clock::now());

            // Polling by hand: pending, then polling too fast is slow_down, and the decision
            // adds 5 s.
            oidc::grant poll = oidc::device_code_grant{da.device_code, {}};
            auto [ec1, t1] = co_await c.get_token(poll, use_nothrow_awaitable);
            CHECK(ec1 == oidc::errc::authorization_pending);
            auto [ec2, t2] = co_await c.get_token(poll, use_nothrow_awaitable);
            CHECK((ec2 == oidc::errc::slow_down || ec2 == oidc::errc::authorization_pending));
            if (ec2 == oidc::errc::slow_down) {
                auto d =
                    oidc::decide_device_poll(ec2, da.interval, oidc::clock::now(), da.expires_at);
                CHECK(d.action == oidc::device_poll_action::retry);
                CHECK(d.interval == da.interval + 5s);
            }

            // poll_device_token waits `interval` between polls; approve in the meantime.
            da.interval = 1s;
            asio::steady_timer approve(ex, 1500ms);
            approve.async_wait([ex, code = da.user_code](std::error_code) {
                asio::co_spawn(
                    ex,
                    [code]() -> asio::awaitable<void> {
                        std::string path =
                            "/test/device/approve?user_code=" + oidc::http::form_encode(code);
                        co_await it::hook(path);
                    },
                    asio::detached);
            });
            auto before = co_await it::hook_get("/test/stats");
            auto t = co_await c.poll_device_token(da);
            CHECK_FALSE(t.access_token.empty());
            CHECK_FALSE(t.id_token.empty());
            (void)before;
        },
        120s);
}

TEST_CASE("device flow: denied", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, it::options(it::env("OIDC_TEST_DEVICE_CLIENT_ID")));
        auto da = co_await c.device_authorize("openid");
        std::string deny =
            "/test/device/approve?deny=1&user_code=" + oidc::http::form_encode(da.user_code);
        co_await it::hook(deny);
        da.interval = 1s;
        auto [ec, t] = co_await c.poll_device_token(da, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::access_denied);
    });
}

TEST_CASE("fetch_jwks: jwks_uri and a given URL", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        oidc::client c(ex, basic_opts());
        auto keys = co_await c.fetch_jwks();
        CHECK(keys.size() >= 1);
        std::string per_client =
            it::env("OIDC_TEST_JWKS_URI") + "?aud=" + it::env("OIDC_TEST_BASIC_CLIENT_ID");
        auto keys2 = co_await c.fetch_jwks(per_client);
        CHECK(keys2.size() == keys.size());
        std::string nope = it::env("OIDC_TEST_ISSUER") + "/nope";
        auto [ec, k3] = co_await c.fetch_jwks(nope, use_nothrow_awaitable);
        CHECK(ec);
    });
}

TEST_CASE("provider failures: 500, timeout, cancellation", "[integration][client]") {
    IT_REQUIRE_PROVIDER();
    it::run([](exec ex) -> asio::awaitable<void> {
        co_await it::hook("/test/reset");
        oidc::client c(ex, basic_opts());
        co_await c.discover();

        co_await it::hook("/test/fail?status=500&count=1");
        oidc::diagnostics d;
        auto [ec, t] = co_await c.get_token(cc_grant(), d, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::server_error);
        CHECK(d.http_status == 500);
        auto t2 = co_await c.get_token(cc_grant());
        CHECK_FALSE(t2.access_token.empty());

        // Timeout: the provider answers after 3 s, the operation is bounded by 500 ms.
        co_await it::hook("/test/delay?ms=3000");
        auto o = basic_opts();
        o.timeout = 500ms;
        oidc::client slow(ex, o);
        auto start = std::chrono::steady_clock::now();
        std::tie(ec, t) = co_await slow.get_token(cc_grant(), use_nothrow_awaitable);
        CHECK(ec == oidc::errc::timed_out);
        CHECK(std::chrono::steady_clock::now() - start < 2500ms);

        // Cancellation through the handler's slot.
        asio::cancellation_signal sig;
        asio::steady_timer timer(ex, 200ms);
        timer.async_wait([&](std::error_code) { sig.emit(asio::cancellation_type::terminal); });
        start = std::chrono::steady_clock::now();
        std::tie(ec, t) = co_await c.get_token(
            cc_grant(), asio::bind_cancellation_slot(sig.slot(), use_nothrow_awaitable));
        CHECK(ec == asio::error::operation_aborted);
        CHECK(std::chrono::steady_clock::now() - start < 2500ms);
        co_await it::hook("/test/delay?ms=0");
    });
}
