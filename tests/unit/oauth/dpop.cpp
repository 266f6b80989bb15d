// DPoP (RFC 9449): the proofs, and the client's token and userinfo requests with them against
// a loopback server that asks for a nonce first.
#include <oidc/client.hpp>
#include <oidc/dpop.hpp>
#include <oidc/session.hpp>

#include "catch.hpp"
#include "test_server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <openssl/evp.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

oidc::dpop_key dpop_test_key(oidc::jose::alg a = oidc::jose::alg::ES256) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pk(
        a == oidc::jose::alg::EdDSA ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
        EVP_PKEY_free);
    REQUIRE(pk);
    oidc::dpop_key k;
    k.algorithm = a;
    REQUIRE_FALSE(oidc::jose::jwk::from_native(pk.get(), k.key));
    return k;
}

/// A proof taken apart and checked the way a server checks it (RFC 9449 4.3): typ, an
/// asymmetric alg, a public jwk in the header that verifies the signature.
struct dpop_seen {
    std::string thumbprint;
    oidc::detail::json::value claims;
};

dpop_seen dpop_check(const std::string& proof, oidc::jose::alg expected_alg) {
    namespace jose = oidc::jose;
    namespace json = oidc::detail::json;
    jose::jws j;
    REQUIRE_FALSE(jose::jws::parse(proof, j));
    CHECK(j.header().typ == "dpop+jwt");
    CHECK(j.header().algorithm == expected_alg);
    json::value h;
    REQUIRE_FALSE(json::parse_object(j.header_json(), h));
    const auto* jwk_member = h.find("jwk");
    REQUIRE(jwk_member);
    REQUIRE(jwk_member->is_object());
    CHECK(jwk_member->find("d") == nullptr); // never the private part
    jose::jwk pub;
    REQUIRE_FALSE(jose::jwk::parse(json::dump(*jwk_member), pub));
    CHECK_FALSE(pub.has_private());
    CHECK_FALSE(jose::verify(expected_alg, pub, j.signing_input(), j.signature()));
    dpop_seen s;
    s.thumbprint = pub.thumbprint();
    REQUIRE_FALSE(json::parse_object(j.payload(), s.claims));
    return s;
}

std::string dpop_claim(const dpop_seen& s, std::string_view name) {
    const auto* v = s.claims.find_string(name);
    return v ? *v : std::string("(absent)");
}

/// The DPoP header of a request as the server received it.
std::string dpop_proof_in(const std::string& req) {
    const auto at = req.find("\r\nDPoP: ");
    REQUIRE(at != std::string::npos);
    return req.substr(at + 8, req.find("\r\n", at + 8) - at - 8);
}

/// A loopback server that answers each request with `answer(request)`, called under a mutex
/// (one request at a time).
oidc_test::test_server dpop_server(std::function<std::string(const std::string&)> answer) {
    auto mu = std::make_shared<std::mutex>();
    return oidc_test::test_server(
        [answer = std::move(answer), mu](oidc_test::server_conn& c, int) -> asio::awaitable<void> {
            for (;;) {
                auto req = co_await c.read_request();
                if (req.empty())
                    co_return;
                std::string out;
                {
                    std::lock_guard<std::mutex> lock(*mu);
                    out = answer(req);
                }
                if (!co_await c.write(out))
                    co_return;
            }
        });
}

/// A client of the loopback server's /token with `key` for DPoP.
oidc::client_options dpop_options(oidc_test::test_server& srv, const oidc::dpop_key& key) {
    oidc::client_options o;
    oidc::provider_metadata md;
    md.issuer = "https://op.example";
    md.token_endpoint = srv.url("/token?realm=r");
    md.userinfo_endpoint = srv.url("/userinfo");
    o.metadata = md;
    o.issuer = md.issuer;
    o.client_id = "app";
    o.auth = oidc::client_secret_basic{"s3cret"};
    o.http.allow_insecure_http = true;
    o.timeout = std::chrono::seconds(5);
    o.dpop = key;
    return o;
}

} // namespace

TEST_CASE("DPoP proof: header, claims, signature (RFC 9449 4.2, 7.1)", "[oauth][dpop]") {
    namespace jose = oidc::jose;
    for (auto a : {jose::alg::ES256, jose::alg::EdDSA}) {
        const auto k = dpop_test_key(a);
        const auto now = oidc::clock::now();
        std::string proof;
        REQUIRE_FALSE(oidc::make_dpop_proof(k, "POST", "HTTPS://AS.Example:443/token?x=1#frag", now,
                                            {}, {}, proof));
        auto s = dpop_check(proof, a);
        CHECK(s.thumbprint == k.key.thumbprint());
        CHECK(dpop_claim(s, "htm") == "POST");
        CHECK(dpop_claim(s, "htu") == "https://as.example/token");
        CHECK(dpop_claim(s, "jti").size() >= 22); // 128 random bits
        CHECK(dpop_claim(s, "ath") == "(absent)");
        CHECK(dpop_claim(s, "nonce") == "(absent)");
        const auto* iat = s.claims.find("iat");
        REQUIRE(iat);
        REQUIRE(iat->is_integer());
        CHECK(iat->as_integer() ==
              std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
        // With an access token and a nonce; a fresh jti every time.
        std::string proof2;
        REQUIRE_FALSE(oidc::make_dpop_proof(k, "GET", "http://127.0.0.1:8080/api/x", now,
                                            "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", "n-1",
                                            proof2));
        auto s2 = dpop_check(proof2, a);
        CHECK(dpop_claim(s2, "htu") == "http://127.0.0.1:8080/api/x");
        // RFC 9449 7.1's example token and its ath.
        CHECK(dpop_claim(s2, "ath") == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
        CHECK(dpop_claim(s2, "nonce") == "n-1");
        CHECK(dpop_claim(s2, "jti") != dpop_claim(s, "jti"));
    }
    // Refused: an HMAC key or algorithm, a public key only, a URL that is not one.
    auto k = dpop_test_key();
    std::string out;
    auto hs = k;
    hs.algorithm = jose::alg::HS256;
    CHECK(oidc::make_dpop_proof(hs, "GET", "https://a/", oidc::clock::now(), {}, {}, out) ==
          oidc::errc::alg_not_allowed);
    oidc::dpop_key pub;
    REQUIRE_FALSE(jose::jwk::parse(k.key.public_json(), pub.key));
    CHECK(oidc::make_dpop_proof(pub, "GET", "https://a/", oidc::clock::now(), {}, {}, out) ==
          oidc::errc::key_unusable);
    CHECK(oidc::make_dpop_proof(k, "GET", "a/b", oidc::clock::now(), {}, {}, out) ==
          oidc::errc::url_invalid);
    CHECK(out.empty());
}

TEST_CASE("DPoP client: token and userinfo requests carry proofs; a use_dpop_nonce answer is "
          "met once with the server's nonce",
          "[oauth][dpop]") {
    const auto key = dpop_test_key();
    std::vector<std::string> requests;
    int token_calls = 0, userinfo_calls = 0;
    auto srv = dpop_server([&](const std::string& req) -> std::string {
        requests.push_back(req);
        if (req.rfind("POST /token", 0) == 0) {
            // The first proof has no nonce: answer the challenge; later, a token.
            if (++token_calls == 1)
                return "HTTP/1.1 400 Bad Request\r\nDPoP-Nonce: as-nonce-1\r\n"
                       "Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
                       R"({"error":"use_dpop_nonce"})"
                       "\n";
            return oidc_test::ok_response(
                R"({"access_token":"at-1","token_type":"DPoP","expires_in":60})",
                "Content-Type: application/json\r\n");
        }
        if (++userinfo_calls == 1)
            return "HTTP/1.1 401 Unauthorized\r\nDPoP-Nonce: rs-nonce-1\r\n"
                   "WWW-Authenticate: DPoP error=\"use_dpop_nonce\", error_description=\"Resource "
                   "server requires nonce in DPoP proof\"\r\nContent-Length: 0\r\n\r\n";
        return oidc_test::ok_response(R"({"sub":"u1"})", "Content-Type: application/json\r\n");
    });
    const auto o = dpop_options(srv, key);
    asio::io_context ioc;
    oidc::client c(ioc.get_executor(), o);
    auto tf = c.get_token(oidc::client_credentials_grant{}, asio::use_future);
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(tf.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    const oidc::token_set t = tf.get();
    CHECK(t.token_type == "DPoP");
    auto uf = c.userinfo(t, asio::use_future);
    ioc.restart();
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(uf.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    CHECK(uf.get().sub == "u1");

    REQUIRE(requests.size() == 4);
    const std::string base = srv.url("");
    auto p0 = dpop_check(dpop_proof_in(requests[0]), oidc::jose::alg::ES256);
    auto p1 = dpop_check(dpop_proof_in(requests[1]), oidc::jose::alg::ES256);
    auto p2 = dpop_check(dpop_proof_in(requests[2]), oidc::jose::alg::ES256);
    auto p3 = dpop_check(dpop_proof_in(requests[3]), oidc::jose::alg::ES256);
    for (const auto* p : {&p0, &p1, &p2, &p3})
        CHECK(p->thumbprint == key.key.thumbprint());
    CHECK(dpop_claim(p0, "htm") == "POST");
    CHECK(dpop_claim(p0, "htu") == base + "/token"); // without the query
    CHECK(dpop_claim(p0, "nonce") == "(absent)");
    CHECK(dpop_claim(p1, "nonce") == "as-nonce-1");
    CHECK(dpop_claim(p1, "jti") != dpop_claim(p0, "jti"));
    CHECK(dpop_claim(p1, "ath") == "(absent)");
    // userinfo: the token as DPoP, with its hash; the resource server's nonce on the retry.
    CHECK(requests[2].find("\r\nAuthorization: DPoP at-1\r\n") != std::string::npos);
    CHECK(dpop_claim(p2, "htm") == "GET");
    CHECK(dpop_claim(p2, "htu") == base + "/userinfo");
    CHECK(dpop_claim(p2, "ath") == oidc::detail::base64url_nopad(oidc::detail::sha256("at-1")));
    CHECK(dpop_claim(p2, "nonce") == "as-nonce-1"); // the origin's last nonce
    CHECK(dpop_claim(p3, "nonce") == "rs-nonce-1");
}

TEST_CASE("DPoP client: a server that keeps asking for a nonce is asked once more, not again",
          "[oauth][dpop]") {
    int calls = 0;
    auto srv = dpop_server([&](const std::string&) {
        return "HTTP/1.1 400 Bad Request\r\nDPoP-Nonce: n" + std::to_string(++calls) +
               "\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n"
               R"({"error":"use_dpop_nonce"})";
    });
    const auto o = dpop_options(srv, dpop_test_key());
    asio::io_context ioc;
    oidc::client c(ioc.get_executor(), o);
    oidc::diagnostics d;
    auto f = c.get_token(oidc::client_credentials_grant{}, d, asio::use_future);
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(f.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    try {
        f.get();
        FAIL("a token");
    } catch (const std::system_error& e) {
        CHECK(e.code() == oidc::errc::oauth_error_other);
    }
    CHECK(d.error == "use_dpop_nonce");
    CHECK(calls == 2);
}

TEST_CASE("DPoP session::call: proofs with the token's hash, a nonce challenge met with the same "
          "token, a DPoP invalid_token answered with a new token",
          "[oauth][dpop]") {
    const auto key = dpop_test_key();
    std::vector<std::string> api_requests;
    int tokens_issued = 0;
    auto srv = dpop_server([&](const std::string& req) -> std::string {
        if (req.rfind("POST /token", 0) == 0)
            return oidc_test::ok_response(R"({"access_token":"at-)" +
                                              std::to_string(++tokens_issued) +
                                              R"(","token_type":"DPoP","expires_in":300})",
                                          "Content-Type: application/json\r\n");
        api_requests.push_back(req);
        if (api_requests.size() == 1) // no nonce yet
            return "HTTP/1.1 401 Unauthorized\r\nDPoP-Nonce: api-n1\r\n"
                   "WWW-Authenticate: DPoP error=\"use_dpop_nonce\"\r\nContent-Length: 0\r\n\r\n";
        if (api_requests.size() == 3) // the token was revoked meanwhile
            return "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: DPoP error=\"invalid_token\"\r\n"
                   "Content-Length: 0\r\n\r\n";
        return oidc_test::ok_response(R"({"ok":true})");
    });
    const auto o = dpop_options(srv, key);
    asio::io_context ioc;
    oidc::client c(ioc.get_executor(), o);
    oidc::session s({c, oidc::client_credentials_grant{}});
    oidc::http::request req;
    req.target = srv.url("/api/x?page=2");
    std::vector<int> statuses;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 2; ++i) {
                auto r = co_await s.call(req);
                statuses.push_back(r.status);
            }
        },
        asio::detached);
    ioc.run_for(std::chrono::seconds(10));
    CHECK(statuses == std::vector<int>{200, 200});
    CHECK(tokens_issued == 2);
    REQUIRE(api_requests.size() == 4);
    const char* expected_token[] = {"at-1", "at-1", "at-1", "at-2"};
    const char* expected_nonce[] = {"(absent)", "api-n1", "api-n1", "api-n1"};
    for (std::size_t i = 0; i < 4; ++i) {
        INFO(i);
        const std::string at = expected_token[i];
        CHECK(api_requests[i].find("\r\nAuthorization: DPoP " + at + "\r\n") != std::string::npos);
        auto p = dpop_check(dpop_proof_in(api_requests[i]), oidc::jose::alg::ES256);
        CHECK(p.thumbprint == key.key.thumbprint());
        CHECK(dpop_claim(p, "htm") == "GET");
        CHECK(dpop_claim(p, "htu") == srv.url("/api/x"));
        CHECK(dpop_claim(p, "ath") == oidc::detail::base64url_nopad(oidc::detail::sha256(at)));
        CHECK(dpop_claim(p, "nonce") == expected_nonce[i]);
    }
}
