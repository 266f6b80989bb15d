// Integration test helpers: the provider's OIDC_TEST_* variables, a bounded coroutine runner,
// client options for the provider's clients, the test hooks and a headless browser login.
#pragma once

#include <oidc/client.hpp>
#include <oidc/http/client.hpp>
#include <oidc/http/url.hpp>
#include <oidc/jose/jwk.hpp>

#include "catch.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <openssl/pem.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <string>
#include <utility>

namespace it {

inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

inline bool have_provider() {
    return !env("OIDC_TEST_ISSUER").empty();
}

// Skips a test (with a warning) when no provider was started.
#define IT_REQUIRE_PROVIDER()                                                                      \
    do {                                                                                           \
        if (!it::have_provider()) {                                                                \
            WARN("OIDC_TEST_ISSUER not set: start scripts/provider.sh and export its env");        \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/// Runs a coroutine on a fresh io_context, bounded in time; returns its result.
template <class F>
auto run(F&& f, std::chrono::seconds limit = std::chrono::seconds(60)) {
    asio::io_context ioc;
    auto fut = asio::co_spawn(ioc, std::forward<F>(f)(ioc.get_executor()), asio::use_future);
    ioc.run_for(limit);
    REQUIRE(fut.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    return fut.get();
}

/// A private key from a PEM file (the provider's private_key_jwt client key) as a JWK.
inline oidc::jose::jwk read_private_key(const std::string& path, const std::string& kid) {
    FILE* f = std::fopen(path.c_str(), "r");
    REQUIRE(f != nullptr);
    EVP_PKEY* pk = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    REQUIRE(pk != nullptr);
    oidc::jose::jwk k;
    auto ec = oidc::jose::jwk::from_native(pk, k, kid);
    EVP_PKEY_free(pk);
    REQUIRE_FALSE(ec);
    return k;
}

inline oidc::client_options options(std::string client_id, oidc::client_auth auth = {}) {
    oidc::client_options o;
    o.issuer = env("OIDC_TEST_ISSUER");
    o.client_id = std::move(client_id);
    o.auth = std::move(auth);
    o.http.ca_file = env("OIDC_TEST_CA");
    o.timeout = std::chrono::seconds(15);
    return o;
}

inline oidc::http::client_options http_options() {
    oidc::http::client_options o;
    o.ca_file = env("OIDC_TEST_CA");
    o.allow_insecure_http = true; // the callback and logout URLs are http://127.0.0.1
    return o;
}

/// POSTs a test hook ("/test/fail?status=500&count=1") on the HTTPS instance.
inline asio::awaitable<oidc::http::response> hook(std::string path_and_query) {
    oidc::http::client h(co_await asio::this_coro::executor, http_options());
    oidc::http::request req;
    req.method = oidc::http::verb::post;
    req.target = env("OIDC_TEST_BASE_URL") + path_and_query;
    req.headers.set("Content-Type", "application/x-www-form-urlencoded");
    auto [ec, resp] = co_await h.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
    if (ec)
        throw std::system_error(ec);
    co_return resp;
}

/// A GET of a test hook returning JSON (e.g. "/test/stats").
inline asio::awaitable<std::string> hook_get(std::string path) {
    oidc::http::client h(co_await asio::this_coro::executor, http_options());
    oidc::http::request req;
    req.target = env("OIDC_TEST_BASE_URL") + path;
    auto [ec, resp] = co_await h.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
    if (ec)
        throw std::system_error(ec);
    co_return resp.body;
}

/// A browser without a browser: follows the provider's redirects with a cookie jar, posts the
/// login form, and stops at the redirect to `redirect_prefix`; returns that URL (README of
/// tests/integration/provider, "Headless authorization code login").
inline asio::awaitable<std::string> headless_login(std::string authorization_url,
                                                   std::string username, std::string password,
                                                   std::string redirect_prefix) {
    oidc::http::client h(co_await asio::this_coro::executor, http_options());
    std::map<std::string, std::string> jar;
    const std::string base = env("OIDC_TEST_BASE_URL");
    auto absolute = [&](std::string loc) {
        return loc.rfind("/", 0) == 0 ? base + loc : loc;
    };
    auto send = [&](oidc::http::request req) -> asio::awaitable<oidc::http::response> {
        std::string cookie;
        for (auto& [k, v] : jar)
            cookie += (cookie.empty() ? "" : "; ") + k + "=" + v;
        if (!cookie.empty())
            req.headers.set("Cookie", cookie);
        auto [ec, resp] = co_await h.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
        if (ec)
            throw std::system_error(ec);
        for (auto sc : resp.headers.get_all("Set-Cookie")) {
            auto nv = sc.substr(0, sc.find(';'));
            auto eq = nv.find('=');
            if (eq != std::string_view::npos)
                jar[std::string(nv.substr(0, eq))] = std::string(nv.substr(eq + 1));
        }
        co_return resp;
    };
    oidc::http::request req;
    req.target = authorization_url;
    std::string last = authorization_url;
    auto resp = co_await send(req);
    bool posted = false;
    for (int step = 0; step < 12; ++step) {
        auto loc = resp.headers.get("Location");
        oidc::http::request r;
        if (resp.status / 100 == 3 && loc) {
            std::string next = absolute(std::string(*loc));
            if (next.rfind(redirect_prefix, 0) == 0)
                co_return next;
            r.target = next;
            last = next;
        } else if (resp.status == 200 && !posted &&
                   last.find("/login-actions/") != std::string::npos) {
            // The login page: post the credentials to LOCATION + "/login".
            posted = true;
            r.method = oidc::http::verb::post;
            r.target = last + "/login";
            r.headers.set("Content-Type", "application/x-www-form-urlencoded");
            r.body = oidc::http::form_body({{"username", username}, {"password", password}});
        } else {
            throw std::runtime_error("headless login: unexpected status " +
                                     std::to_string(resp.status));
        }
        resp = co_await send(std::move(r));
    }
    throw std::runtime_error("headless login: too many redirects");
}

} // namespace it
