// oidc::client against a misbehaving in-process server (tests/support/test_server.hpp):
// garbage JSON, non-OAuth error statuses, a server that never answers, cancellation, and the
// handler/executor rules. No provider needed.
#include <oidc/client.hpp>

#include "catch.hpp"
#include "test_server.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <future>
#include <string>

using namespace std::chrono_literals;
using oidc::net::use_nothrow_awaitable;

namespace {

// Answers every request with `response`, or never when it is empty.
oidc_test::test_server serve(std::string response) {
    return oidc_test::test_server(
        [response](oidc_test::server_conn& c, int) -> asio::awaitable<void> {
            for (;;) {
                auto req = co_await c.read_request();
                if (req.empty())
                    co_return;
                if (response.empty()) {
                    co_await oidc_test::sleep_for(10s);
                    co_return;
                }
                if (!co_await c.write(response))
                    co_return;
            }
        });
}

oidc::client_options local_options(const std::string& token_url) {
    oidc::client_options o;
    oidc::provider_metadata md;
    md.token_endpoint = token_url;
    md.jwks_uri = token_url;
    o.metadata = md;
    o.client_id = "app";
    o.http.allow_insecure_http = true;
    o.timeout = 3s;
    return o;
}

template <class F>
auto run(F f) {
    asio::io_context ioc;
    auto fut = asio::co_spawn(ioc, f(ioc.get_executor()), asio::use_future);
    ioc.run_for(20s);
    REQUIRE(fut.wait_for(0s) == std::future_status::ready);
    return fut.get();
}

oidc::grant cc() {
    return oidc::client_credentials_grant{};
}

} // namespace

TEST_CASE("client: garbage and non-OAuth answers become clear errors", "[oauth][client]") {
    auto garbage = serve(oidc_test::ok_response("<html>not json</html>"));
    auto empty_object = serve(oidc_test::ok_response("{}"));
    auto teapot = serve("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 5\r\n\r\nshort");
    auto oauth = serve("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                       "Content-Length: 54\r\n\r\n"
                       R"({"error":"invalid_scope","error_description":"bad\nx"})");
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        oidc::diagnostics d;
        oidc::client c1(ex, local_options(garbage.url("/token")));
        auto [ec, t] = co_await c1.get_token(cc(), d, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::json_invalid);
        CHECK(d.http_status == 200);
        auto [kec, keys] = co_await c1.fetch_jwks(use_nothrow_awaitable);
        CHECK(kec == oidc::errc::json_invalid);

        oidc::client c2(ex, local_options(empty_object.url("/token")));
        std::tie(ec, t) = co_await c2.get_token(cc(), d, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::token_response_invalid);

        oidc::client c3(ex, local_options(teapot.url("/token")));
        std::tie(ec, t) = co_await c3.get_token(cc(), d, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::http_status_unexpected);
        CHECK(d.http_status == 418);

        oidc::client c4(ex, local_options(oauth.url("/token")));
        std::tie(ec, t) = co_await c4.get_token(cc(), d, use_nothrow_awaitable);
        CHECK(ec == oidc::errc::invalid_scope);
        CHECK(d.error == "invalid_scope");
        CHECK(d.error_description == "bad?x"); // control characters neutralised

        // Missing endpoints.
        oidc::client c5(ex, local_options(oauth.url("/token")));
        auto [uec, ui] = co_await c5.userinfo("at", "", use_nothrow_awaitable);
        CHECK(uec == oidc::errc::endpoint_not_supported);
        auto [rec] = co_await c5.revoke("t", use_nothrow_awaitable);
        CHECK(rec == oidc::errc::endpoint_not_supported);
        CHECK(c5.end_session_url("x", "y", "z").empty());

        // http:// without permission.
        auto o = local_options(oauth.url("/token"));
        o.http.allow_insecure_http = false;
        oidc::client c6(ex, o);
        std::tie(ec, t) = co_await c6.get_token(cc(), use_nothrow_awaitable);
        CHECK(ec == oidc::errc::insecure_scheme);
    });
}

TEST_CASE("client: an introspection exp that is not a representable time is refused",
          "[oauth][client]") {
    auto huge = serve(oidc_test::ok_response(R"({"active":true,"exp":1e300})"));
    auto text = serve(oidc_test::ok_response(R"({"active":true,"exp":"soon"})"));
    auto good = serve(oidc_test::ok_response(R"({"active":true,"exp":1700000000.5})"));
    auto introspect = [](oidc_test::test_server& srv) {
        auto o = local_options(srv.url("/token"));
        o.metadata->introspection_endpoint = srv.url("/introspect");
        return run([o](asio::any_io_executor ex) -> asio::awaitable<oidc::introspection> {
            oidc::client c(ex, o);
            auto [ec, r] = co_await c.introspect("t", use_nothrow_awaitable);
            if (ec)
                throw std::system_error(ec);
            co_return r;
        });
    };
    auto code_of = [&](oidc_test::test_server& srv) {
        try {
            introspect(srv);
            return std::error_code{};
        } catch (const std::system_error& e) {
            return e.code();
        }
    };
    CHECK(code_of(huge) == oidc::errc::token_response_invalid);
    CHECK(code_of(text) == oidc::errc::token_response_invalid);
    auto r = introspect(good);
    CHECK(r.active);
    REQUIRE(r.exp);
    CHECK(*r.exp == oidc::clock::time_point(std::chrono::seconds(1700000000)));
}

TEST_CASE("client: timeout and cancellation against a silent server", "[oauth][client]") {
    auto silent = serve("");
    run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto o = local_options(silent.url("/token"));
        o.timeout = 300ms;
        oidc::client c(ex, o);
        auto start = std::chrono::steady_clock::now();
        auto [ec, t] = co_await c.get_token(cc(), use_nothrow_awaitable);
        CHECK(ec == oidc::errc::timed_out);
        CHECK(std::chrono::steady_clock::now() - start < 2s);

        o.timeout = 10s;
        oidc::client c2(ex, o);
        asio::cancellation_signal sig;
        asio::steady_timer timer(ex, 100ms);
        timer.async_wait([&](std::error_code) { sig.emit(asio::cancellation_type::terminal); });
        start = std::chrono::steady_clock::now();
        std::tie(ec, t) = co_await c2.get_token(
            cc(), asio::bind_cancellation_slot(sig.slot(), use_nothrow_awaitable));
        CHECK(ec == asio::error::operation_aborted);
        CHECK(std::chrono::steady_clock::now() - start < 2s);

        // use_awaitable: the error throws oidc::oauth_error.
        bool thrown = false;
        try {
            auto o3 = local_options(silent.url("/token"));
            o3.timeout = 100ms;
            oidc::client c4(ex, o3);
            co_await c4.get_token(cc());
        } catch (const oidc::oauth_error& e) {
            thrown = e.code() == oidc::errc::timed_out;
        }
        CHECK(thrown);
    });
}

TEST_CASE("client: callback handler runs on its associated executor, never inline",
          "[oauth][client]") {
    auto garbage = serve(oidc_test::ok_response("nope"));
    asio::io_context ioc;
    oidc::client c(ioc.get_executor(), local_options(garbage.url("/token")));
    bool called = false;
    c.get_token(cc(), [&](std::error_code ec, oidc::token_set) {
        called = true;
        CHECK(ec == oidc::errc::json_invalid);
    });
    CHECK_FALSE(called); // not inside the initiating call
    ioc.run_for(10s);
    CHECK(called);
}
