// The client against servers that misbehave on purpose: every case ends with a clear
// error, in bounded time, and never leaves a connection in the pool.
#include <oidc/http/client.hpp>

#include "catch.hpp"
#include "test_server.hpp"

#include <asio/io_context.hpp>

#include <string>

using namespace std::chrono_literals;
using oidc::errc;
using oidc::http::client;
using oidc_test::get;
using oidc_test::send_now;
using oidc_test::server_conn;
using oidc_test::test_server;

namespace {

/// Reads one request, writes `bytes`, then closes (or lingers when `linger`).
test_server::script_type answer(std::string bytes, bool linger = false) {
    return [bytes = std::move(bytes), linger](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.read_request();
        co_await c.write(bytes);
        if (linger)
            co_await c.wait_closed(10s);
        else
            c.close();
    };
}

/// A POST of an 8 MB body: more than the loopback socket buffers take while the server
/// reads nothing, so the client is still writing when the server closes.
oidc::http::request big_post(const std::string& url) {
    oidc::http::request req;
    req.method = oidc::http::verb::post;
    req.target = url;
    req.headers.set("Content-Type", "application/octet-stream");
    req.body.assign(8 * 1024 * 1024, 'x');
    return req;
}

struct outcome {
    std::error_code ec;
    int accepted;
    std::size_t idle;
};

outcome run_against(test_server::script_type script,
                    std::optional<oidc::http::send_options> so = std::nullopt, bool tls = false) {
    oidc_test::server_options o;
    o.tls = tls;
    test_server srv(std::move(script), o);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto r = send_now(ioc, c, get(srv.url("/")), so);
    REQUIRE(r.completed);
    return {r.ec, srv.accepted(), c.idle_connections()};
}

} // namespace

TEST_CASE("slow headers hit the read timeout", "[http-client][misbehaving]") {
    auto tls = GENERATE(false, true);
    oidc::http::send_options so;
    so.timeout.read = 200ms;
    auto t0 = std::chrono::steady_clock::now();
    auto o = run_against(
        [](server_conn& c, int) -> asio::awaitable<void> {
            co_await c.read_request();
            co_await c.write("HTTP/1.1 200 OK\r\n");
            co_await oidc_test::sleep_for(3s); // the rest never comes in time
            co_await c.write("Content-Length: 0\r\n\r\n");
        },
        so, tls);
    CHECK(o.ec == errc::timed_out);
    CHECK(o.ec.message() == "operation timed out");
    CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
    CHECK(o.idle == 0);
}

TEST_CASE("a slow but steady body is not cut by the per-read timeout",
          "[http-client][misbehaving]") {
    oidc::http::send_options so;
    so.timeout.read = 1s; // each gap is far below it, their sum above it
    auto o = run_against(
        [](server_conn& c, int) -> asio::awaitable<void> {
            co_await c.read_request();
            co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
            for (int i = 0; i < 5; ++i) {
                co_await oidc_test::sleep_for(300ms);
                co_await c.write("x");
            }
            co_await c.wait_closed(5s);
        },
        so);
    CHECK_FALSE(o.ec);
    CHECK(o.idle == 1);
}

TEST_CASE("a server that trickles its response is cut off by the response timeout",
          "[http-client][misbehaving]") {
    auto tls = GENERATE(false, true);
    oidc::http::send_options so;
    so.timeout.read = 1s;        // never reached: a byte comes every 50 ms
    so.timeout.response = 400ms; // the whole response
    const auto t0 = std::chrono::steady_clock::now();
    auto o = run_against(
        [](server_conn& c, int) -> asio::awaitable<void> {
            co_await c.read_request();
            co_await c.write("HTTP/1.1 200 OK\r\n");
            for (int i = 0; i < 200; ++i) { // a header line that takes 10 s
                co_await oidc_test::sleep_for(50ms);
                if (!co_await c.write("X"))
                    co_return;
            }
        },
        so, tls);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(o.ec == errc::timed_out);
    CHECK(took >= 350ms);
    CHECK(took < 2s);
    CHECK(o.idle == 0);
}

TEST_CASE("a body cut mid-way is http_truncated", "[http-client][misbehaving]") {
    auto tls = GENERATE(false, true);
    auto o =
        run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":"), {}, tls);
    CHECK(o.ec == errc::http_truncated);
    CHECK(o.idle == 0);
    auto chunked =
        run_against(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"));
    CHECK(chunked.ec == errc::http_truncated);
    auto headers = run_against(answer("HTTP/1.1 200 OK\r\nContent-Le"));
    CHECK(headers.ec == errc::http_truncated);
}

TEST_CASE("wrong Content-Length values", "[http-client][misbehaving]") {
    CHECK(run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n")).ec ==
          errc::http_content_length_invalid);
    CHECK(run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab"))
              .ec == errc::http_content_length_invalid);
    CHECK(run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")).ec ==
          errc::http_content_length_invalid);
    CHECK(run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"))
              .ec == errc::http_content_length_invalid);
    // Longer than announced: the response ends at Content-Length and the connection, with
    // bytes nobody asked for, is never reused.
    auto longer = run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", true));
    CHECK_FALSE(longer.ec);
    CHECK(longer.idle == 0);
    // Shorter than announced: truncated.
    CHECK(run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")).ec ==
          errc::http_truncated);
}

TEST_CASE("bad chunk sizes", "[http-client][misbehaving]") {
    const char* bodies[] = {
        "zz\r\nabc\r\n0\r\n\r\n",
        "-5\r\nabc\r\n0\r\n\r\n",
        "ffffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        "3\r\nabcdef\r\n0\r\n\r\n",
        "\r\n\r\n",
    };
    for (const char* b : bodies) {
        CAPTURE(b);
        auto o = run_against(
            answer(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") + b));
        CHECK((o.ec == errc::http_chunk_invalid || o.ec == errc::http_body_too_large));
        CHECK(o.idle == 0);
    }
}

TEST_CASE("oversized headers and bodies hit the limits", "[http-client][misbehaving]") {
    std::string big = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
    auto o = run_against(answer(big, true));
    CHECK(o.ec == errc::http_headers_too_large);
    std::string many = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 200; ++i)
        many += "X-" + std::to_string(i) + ": v\r\n";
    many += "Content-Length: 0\r\n\r\n";
    CHECK(run_against(answer(many, true)).ec == errc::http_headers_too_large);
    oidc::http::send_options so;
    so.limits.max_body_bytes = 1000;
    std::string body(5000, 'b');
    CHECK(run_against(answer("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body, true), so)
              .ec == errc::http_body_too_large);
    CHECK(run_against(answer("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body), so).ec ==
          errc::http_body_too_large);
}

TEST_CASE("garbage status lines", "[http-client][misbehaving]") {
    const char* lines[] = {
        "garbage\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 OK\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    };
    for (const char* l : lines) {
        CAPTURE(l);
        auto o = run_against(answer(l, true));
        CHECK(o.ec == errc::http_status_line_invalid);
    }
    CHECK(run_against(answer("HTTP/2.0 200 OK\r\n\r\n", true)).ec ==
          errc::http_version_unsupported);
}

TEST_CASE("an HTTP/1.0 body delimited by close is read to the end", "[http-client][misbehaving]") {
    oidc_test::server_options o;
    test_server srv(answer("HTTP/1.0 200 OK\r\n\r\n{\"closed\":true}"), o);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto r = send_now(ioc, c, get(srv.url("/")));
    REQUIRE_FALSE(r.ec);
    CHECK(r.res.body == "{\"closed\":true}");
    CHECK(c.idle_connections() == 0);
}

TEST_CASE("a server that closes at once is http_truncated", "[http-client][misbehaving]") {
    auto o = run_against([](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.read_request();
        c.close();
    });
    CHECK(o.ec == errc::http_truncated);
    CHECK(o.accepted == 1); // a fresh connection is never retried
}

TEST_CASE("a TLS server that speaks plain text fails the handshake",
          "[http-client][misbehaving][tls]") {
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.write("HTTP/1.1 400 Bad Request\r\n\r\n");
        c.close();
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto r = send_now(ioc, c, get("https://127.0.0.1:" + std::to_string(srv.port()) + "/"));
    REQUIRE(r.completed);
    CHECK(r.ec);
    CHECK(c.idle_connections() == 0);
}

TEST_CASE("a TLS handshake that never completes times out", "[http-client][misbehaving][tls]") {
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.wait_closed(10s); // accepts TCP, never answers the client hello
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto so = c.default_send_options();
    so.timeout.handshake = 200ms;
    auto r = send_now(ioc, c, get("https://127.0.0.1:" + std::to_string(srv.port()) + "/"), so);
    CHECK(r.ec == errc::timed_out);
}

TEST_CASE("a server that answers before the request body arrived and closes: its answer is the "
          "response",
          "[http-client][misbehaving]") {
    // An early 413 (RFC 9112 9.5): the server reads the head only, answers and closes with
    // most of an 8 MB body unread, so the client's write fails with a reset or a broken pipe;
    // the answer is already in the client's socket.
    const bool tls = GENERATE(false, true);
    CAPTURE(tls);
    oidc_test::server_options o;
    o.tls = tls;
    test_server srv(
        [](server_conn& c, int) -> asio::awaitable<void> {
            if ((co_await c.read_head()).empty())
                co_return;
            co_await c.write("HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
                             "Content-Length: 23\r\n\r\n{\"error\":\"too_large\"}  ");
            c.close();
        },
        o);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto r = send_now(ioc, c, big_post(srv.url("/upload")));
    REQUIRE(r.completed);
    REQUIRE_FALSE(r.ec);
    CHECK(r.res.status == 413);
    CHECK(r.res.body == "{\"error\":\"too_large\"}  ");
    CHECK(c.idle_connections() == 0); // the connection is never reused
    CHECK(srv.accepted() == 1);       // nor the request sent again
}

TEST_CASE("a server that closes mid-body without an answer is http_truncated",
          "[http-client][misbehaving]") {
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        if (!(co_await c.read_head()).empty())
            c.close();
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto r = send_now(ioc, c, big_post(srv.url("/upload")));
    REQUIRE(r.completed);
    CHECK(r.ec == errc::http_truncated);
    CHECK(c.idle_connections() == 0);
    CHECK(srv.accepted() == 1);
}
