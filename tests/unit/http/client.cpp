// Tests for include/oidc/http/client.hpp against in-test servers on 127.0.0.1.
#include <oidc/http/client.hpp>

#include "catch.hpp"
#include "dns_blackhole.hpp"
#include "test_server.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using oidc::errc;
using oidc::http::client;
using oidc_test::get;
using oidc_test::ok_response;
using oidc_test::send_now;
using oidc_test::server_conn;
using oidc_test::test_server;

namespace {

/// Answers every request on a connection with a small JSON body (keep-alive).
asio::awaitable<void> echo_json(server_conn& c, int) {
    for (;;) {
        std::string req = co_await c.read_request();
        if (req.empty())
            co_return;
        std::string line = req.substr(0, req.find("\r\n"));
        if (!co_await c.write(ok_response("{\"line\":\"" + line + "\"}")))
            co_return;
    }
}

} // namespace

TEST_CASE("keep-alive: sequential requests reuse one connection", "[http-client]") {
    std::vector<std::string> seen;
    std::mutex mu;
    test_server srv([&](server_conn& c, int) -> asio::awaitable<void> {
        for (;;) {
            std::string req = co_await c.read_request();
            if (req.empty())
                co_return;
            {
                std::lock_guard<std::mutex> l(mu);
                seen.push_back(req);
            }
            co_await c.write(ok_response("{\"n\":1}"));
        }
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    for (int i = 0; i < 5; ++i) {
        auto r = send_now(ioc, c, get(srv.url("/p?i=" + std::to_string(i))));
        REQUIRE(r.completed);
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.status == 200);
        CHECK(r.res.body == "{\"n\":1}");
        CHECK(r.res.headers.get("content-type") == "application/json");
    }
    CHECK(srv.accepted() == 1);
    CHECK(c.idle_connections() == 1);
    std::lock_guard<std::mutex> l(mu);
    REQUIRE(seen.size() == 5);
    CHECK(seen[3].rfind("GET /p?i=3 HTTP/1.1\r\n", 0) == 0);
    CHECK(seen[3].find("\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\n") !=
          std::string::npos);
}

TEST_CASE("requests alternating between origins, targets and bad URLs reach the right server",
          "[http-client]") {
    // send_impl keeps the last target's parsed URL per thread: a different target, a bad
    // one, or the same text after a bad one must never be served from a stale entry.
    auto answer_with_line = [](std::string name) {
        return [name](server_conn& c, int) -> asio::awaitable<void> {
            for (;;) {
                std::string req = co_await c.read_request();
                if (req.empty())
                    co_return;
                std::string host = req.substr(req.find("\r\nHost: ") + 8);
                host = host.substr(0, host.find("\r\n"));
                co_await c.write(
                    ok_response(name + " " + req.substr(0, req.find(" HTTP/1.1")) + " " + host));
            }
        };
    };
    test_server a(answer_with_line("a"));
    test_server b(answer_with_line("b"));
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    const std::string host_a = "127.0.0.1:" + std::to_string(a.port());
    const std::string host_b = "127.0.0.1:" + std::to_string(b.port());
    for (int i = 0; i < 3; ++i) {
        auto r1 = send_now(ioc, c, get(a.url("/x?i=" + std::to_string(i))));
        REQUIRE_FALSE(r1.ec);
        CHECK(r1.res.body == "a GET /x?i=" + std::to_string(i) + " " + host_a);
        auto r2 = send_now(ioc, c, get(b.url("/x?i=" + std::to_string(i))));
        REQUIRE_FALSE(r2.ec);
        CHECK(r2.res.body == "b GET /x?i=" + std::to_string(i) + " " + host_b);
        auto bad = send_now(ioc, c, get("https://exa mple.com/"));
        CHECK(bad.ec == errc::url_invalid);
        auto r3 = send_now(ioc, c, get(b.url("/x?i=" + std::to_string(i))));
        REQUIRE_FALSE(r3.ec);
        CHECK(r3.res.body == "b GET /x?i=" + std::to_string(i) + " " + host_b);
        auto r4 = send_now(ioc, c, get(b.url("/x?i=" + std::to_string(i))));
        REQUIRE_FALSE(r4.ec);
        CHECK(r4.res.body == r3.res.body);
    }
    CHECK(a.accepted() == 1);
    CHECK(b.accepted() == 1);
}

TEST_CASE("POST body and chunked response", "[http-client]") {
    std::string got;
    test_server srv([&](server_conn& c, int) -> asio::awaitable<void> {
        got = co_await c.read_request();
        co_await c.write("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "4\r\n{\"a\"\r\n6\r\n:true}\r\n0\r\n\r\n");
        co_await c.wait_closed(5s);
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    oidc::http::request req;
    req.method = oidc::http::verb::post;
    req.target = srv.url("/token");
    req.headers.set("Content-Type", "application/x-www-form-urlencoded");
    req.body = "grant_type=client_credentials";
    auto r = send_now(ioc, c, std::move(req));
    REQUIRE_FALSE(r.ec);
    CHECK(r.res.status == 201);
    CHECK(r.res.body == "{\"a\":true}");
    CHECK(got.rfind("POST /token HTTP/1.1\r\n", 0) == 0);
    CHECK(got.find("Content-Length: 29\r\n") != std::string::npos);
    CHECK(got.substr(got.size() - 29) == "grant_type=client_credentials");
}

TEST_CASE("HEAD and Connection: close are honoured", "[http-client]") {
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        std::string req = co_await c.read_request();
        if (req.rfind("HEAD", 0) == 0) {
            // Content-Length announces a body a HEAD response never carries.
            co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            req = co_await c.read_request();
        }
        co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        c.close();
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto h = get(srv.url("/"));
    h.method = oidc::http::verb::head;
    auto r1 = send_now(ioc, c, h);
    REQUIRE_FALSE(r1.ec);
    CHECK(r1.res.body.empty());
    auto r2 = send_now(ioc, c, get(srv.url("/")));
    REQUIRE_FALSE(r2.ec);
    CHECK(r2.res.body == "ok");
    CHECK(srv.accepted() == 1);
    CHECK(c.idle_connections() == 0); // Connection: close
}

TEST_CASE("plain http is refused by default, bad URLs are refused", "[http-client]") {
    test_server srv(echo_json);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc::http::client_options{});
    auto r = send_now(ioc, c, get(srv.url("/")));
    REQUIRE(r.completed);
    CHECK(r.ec == errc::insecure_scheme);
    CHECK(srv.accepted() == 0);
    auto bad = send_now(ioc, c, get("https://user:pw@127.0.0.1/"));
    CHECK(bad.ec == errc::url_invalid);
    auto rel = send_now(ioc, c, get("/relative"));
    CHECK(rel.ec == errc::url_invalid);
    oidc::http::request inj = get("https://127.0.0.1:1/");
    inj.headers.set("X-Evil", "a\r\nInjected: 1");
    CHECK(send_now(ioc, c, inj).ec == errc::http_header_invalid);
}

TEST_CASE("connection refused is reported", "[http-client]") {
    asio::io_context ioc;
    unsigned short port;
    {
        asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto r = send_now(ioc, c, get("http://127.0.0.1:" + std::to_string(port) + "/"));
    REQUIRE(r.completed);
    CHECK(r.ec == asio::error::connection_refused);
}

namespace {
/// A listener on 127.0.0.1 whose accept queue is full: later SYNs are dropped and a connect
/// to it hangs (until its timeout or a cancellation).
struct full_backlog {
    asio::ip::tcp::acceptor acceptor;
    std::vector<std::unique_ptr<asio::ip::tcp::socket>> fillers;
    explicit full_backlog(asio::io_context& ioc) : acceptor(ioc) {
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(ep.protocol());
        acceptor.bind(ep);
        acceptor.listen(0);
        for (int i = 0; i < 4; ++i) {
            fillers.push_back(std::make_unique<asio::ip::tcp::socket>(ioc));
            fillers.back()->async_connect(acceptor.local_endpoint(), [](std::error_code) {});
        }
        ioc.run_for(200ms);
    }
    asio::ip::tcp::endpoint endpoint() const { return acceptor.local_endpoint(); }
};
} // namespace

TEST_CASE("connect timeout when the listen backlog is full", "[http-client]") {
    asio::io_context ioc;
    full_backlog hanging(ioc);
    auto port = hanging.endpoint().port();
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto so = c.default_send_options();
    so.timeout.connect = 300ms;
    auto t0 = std::chrono::steady_clock::now();
    auto r = send_now(ioc, c, get("http://127.0.0.1:" + std::to_string(port) + "/"), so);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(r.completed);
    CHECK(r.ec == errc::timed_out);
    CHECK(took < 3s);
}

TEST_CASE("a cancellation during connect is not turned into an attempt at the next address",
          "[http-client]") {
    // The first address never accepts (full backlog), the second one does. The caller's
    // coroutine does not throw on cancellation, so only the connect step can end it.
    test_server srv(echo_json);
    asio::io_context ioc;
    full_backlog hanging(ioc);
    std::vector<asio::ip::tcp::endpoint> eps{hanging.endpoint(),
                                             {asio::ip::make_address("127.0.0.1"), srv.port()}};
    auto conn = std::make_shared<oidc::http::connection>(ioc.get_executor(), nullptr);
    asio::cancellation_signal sig;
    std::optional<std::error_code> result;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            co_await asio::this_coro::throw_if_cancelled(false);
            result = co_await conn->connect_endpoints(eps, 5s);
        },
        asio::bind_cancellation_slot(sig.slot(), asio::detached));
    asio::steady_timer t(ioc, 200ms);
    t.async_wait([&](std::error_code) { sig.emit(asio::cancellation_type::terminal); });
    const auto t0 = std::chrono::steady_clock::now();
    ioc.restart();
    while (!result && std::chrono::steady_clock::now() - t0 < 10s)
        ioc.run_one_for(20ms);
    REQUIRE(result);
    CHECK(*result == asio::error::operation_aborted);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(srv.accepted() == 0);
    conn->close();
}

TEST_CASE("resolving localhost works and http://[::1] works", "[http-client]") {
    test_server srv(echo_json);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto r = send_now(ioc, c, get("http://localhost:" + std::to_string(srv.port()) + "/x"));
    if (r.ec == asio::error::connection_refused) {
        WARN("localhost resolved to ::1 first and the server listens on 127.0.0.1 only");
    } else {
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.body == "{\"line\":\"GET /x HTTP/1.1\"}");
    }
    oidc_test::server_options o;
    o.ipv6 = true;
    std::unique_ptr<test_server> v6;
    try {
        v6 = std::make_unique<test_server>(echo_json, o);
    } catch (const std::exception&) {
        WARN("no IPv6 loopback here");
        return;
    }
    auto r6 = send_now(ioc, c, get(v6->url("/six")));
    REQUIRE_FALSE(r6.ec);
    CHECK(r6.res.body == "{\"line\":\"GET /six HTTP/1.1\"}");
}

// ---- TLS ----

TEST_CASE("TLS: verified keep-alive against the test CA", "[http-client][tls]") {
    oidc_test::server_options so;
    so.tls = true;
    test_server srv(echo_json, so);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    for (int i = 0; i < 3; ++i) {
        auto r = send_now(ioc, c, get(srv.url("/tls")));
        REQUIRE(r.completed);
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.body == "{\"line\":\"GET /tls HTTP/1.1\"}");
    }
    CHECK(srv.accepted() == 1);
    // By name: SNI and DNS host name verification.
    auto byname = send_now(ioc, c, get("https://localhost:" + std::to_string(srv.port()) + "/n"));
    if (byname.ec != asio::error::connection_refused) {
        REQUIRE_FALSE(byname.ec);
        CHECK(byname.res.status == 200);
    }
}

TEST_CASE("TLS: a new connection resumes the origin's session, as the server sees it",
          "[http-client][tls]") {
    const bool resume = GENERATE(true, false);
    oidc_test::server_options so;
    so.tls = true;
    std::atomic<int> reused[3] = {-1, -1, -1};
    test_server srv(
        [&](server_conn& c, int index) -> asio::awaitable<void> {
            if (index < 3)
                reused[index] = c.session_reused() ? 1 : 0;
            co_await echo_json(c, index);
        },
        so);
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.resume_tls_sessions = resume;
    client c(ioc.get_executor(), co);
    for (int i = 0; i < 3; ++i) {
        c.close_idle(); // each request on a new connection
        auto r = send_now(ioc, c, get(srv.url("/r")));
        REQUIRE(r.completed);
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.status == 200);
    }
    CHECK(srv.accepted() == 3);
    CHECK(reused[0] == 0);
    CHECK(reused[1] == (resume ? 1 : 0));
    CHECK(reused[2] == (resume ? 1 : 0));
    // Another client has its own sessions: a full handshake.
    client other(ioc.get_executor(), co);
    std::atomic<int> fourth{-1};
    test_server srv2(
        [&](server_conn& c, int index) -> asio::awaitable<void> {
            fourth = c.session_reused() ? 1 : 0;
            co_await echo_json(c, index);
        },
        so);
    REQUIRE_FALSE(send_now(ioc, c, get(srv2.url("/a"))).ec);
    auto r = send_now(ioc, other, get(srv2.url("/b")));
    REQUIRE_FALSE(r.ec);
    CHECK(fourth == 0);
}

namespace {
std::error_code tls_error_with(const std::string& cert, const std::string& key,
                               oidc::http::client_options co = oidc_test::test_client_options()) {
    oidc_test::server_options so;
    so.tls = true;
    so.cert_file = oidc_test::pki(cert);
    so.key_file = oidc_test::pki(key);
    test_server srv(echo_json, so);
    asio::io_context ioc;
    client c(ioc.get_executor(), std::move(co));
    auto r = send_now(ioc, c, get(srv.url("/")));
    REQUIRE(r.completed);
    CHECK(c.idle_connections() == 0);
    return r.ec;
}
} // namespace

TEST_CASE("TLS: each certificate failure has its own error", "[http-client][tls]") {
    auto wrong = tls_error_with("wrong-host.pem", "wrong-host.key");
    CHECK(wrong == errc::tls_host_name_mismatch);
    CHECK(wrong.message() == "TLS certificate does not match the host name");
    CHECK(tls_error_with("expired.pem", "expired.key") == errc::tls_certificate_expired);
    CHECK(tls_error_with("self-signed.pem", "self-signed.key") == errc::tls_certificate_untrusted);
    // Without the test CA the valid server certificate is not trusted either.
    oidc::http::client_options no_ca;
    CHECK(tls_error_with("server-chain.pem", "server.key", no_ca) ==
          errc::tls_certificate_untrusted);
}

namespace {
/// A getaddrinfo() for the trailing-dot test: names ending in ".", which /etc/hosts does not
/// list, are looked up without the dot.
int undotted_getaddrinfo(const char* host, const char* service, const ::addrinfo* hints,
                         ::addrinfo** res) {
    std::string h = host ? host : "";
    if (!h.empty() && h.back() == '.')
        h.pop_back();
    if (h == "not-this-host.test")
        h = "127.0.0.1";
    return ::getaddrinfo(h.c_str(), service, hints, res);
}
} // namespace

TEST_CASE("TLS: a host name with a trailing dot goes without it into SNI and the certificate "
          "check; the Host header keeps it",
          "[http-client][tls]") {
    namespace hd = oidc::http::detail;
    struct restore {
        hd::getaddrinfo_fn prev = hd::resolve_getaddrinfo.exchange(&undotted_getaddrinfo);
        ~restore() { hd::resolve_getaddrinfo.store(prev); }
    } seam;
    const bool wrong_cert = GENERATE(false, true);
    CAPTURE(wrong_cert);
    oidc_test::server_options so;
    so.tls = true;
    if (wrong_cert) { // a certificate for not-this-host.test
        so.cert_file = oidc_test::pki("wrong-host.pem");
        so.key_file = oidc_test::pki("wrong-host.key");
    }
    std::mutex mu;
    std::vector<std::string> sni, host;
    test_server srv(
        [&](server_conn& c, int) -> asio::awaitable<void> {
            const std::string name = c.server_name();
            for (;;) {
                std::string req = co_await c.read_request();
                if (req.empty())
                    co_return;
                const auto at = req.find("\r\nHost: ");
                const auto end = req.find("\r\n", at + 2);
                {
                    std::lock_guard<std::mutex> lock(mu);
                    sni.push_back(name);
                    host.push_back(at == std::string::npos ? "" : req.substr(at + 8, end - at - 8));
                }
                if (!co_await c.write(ok_response("{}")))
                    co_return;
            }
        },
        so);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    const std::string port = std::to_string(srv.port());
    const std::string good = wrong_cert ? "not-this-host.test." : "localhost.";
    const std::string bad = wrong_cert ? "localhost." : "not-this-host.test.";
    auto r = send_now(ioc, c, get("https://" + good + ":" + port + "/dot"));
    REQUIRE(r.completed);
    REQUIRE_FALSE(r.ec);
    CHECK(r.res.status == 200);
    {
        std::lock_guard<std::mutex> lock(mu);
        REQUIRE(sni.size() == 1);
        CHECK(sni[0] == good.substr(0, good.size() - 1));
        CHECK(host[0] == good + ":" + port);
    }
    // The dot does not make another name match.
    auto other = send_now(ioc, c, get("https://" + bad + ":" + port + "/dot"));
    REQUIRE(other.completed);
    CHECK(other.ec == errc::tls_host_name_mismatch);
}

TEST_CASE("TLS: a caller context cannot switch verification off", "[http-client][tls]") {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_verify_mode(asio::ssl::verify_none);
    oidc::http::client_options co;
    co.tls = ctx;
    CHECK(tls_error_with("self-signed.pem", "self-signed.key", co) ==
          errc::tls_certificate_untrusted);
}

TEST_CASE("TLS: a caller's verify callback may refuse a certificate but never accept one",
          "[http-client][tls]") {
    // asio's verify callback is an SSL_CTX callback: one that accepts everything...
    auto lax = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    lax->set_verify_mode(asio::ssl::verify_none);
    lax->set_verify_callback([](bool, asio::ssl::verify_context&) { return true; });
    oidc::http::client_options co;
    co.tls = lax;
    CHECK(tls_error_with("self-signed.pem", "self-signed.key", co) ==
          errc::tls_certificate_untrusted);
    CHECK(tls_error_with("expired.pem", "expired.key", co) != std::error_code{});
    // ... and one that refuses a certificate chain OpenSSL accepts (a pinning check).
    auto strict = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    strict->load_verify_file(oidc_test::pki("ca.pem"));
    int calls = 0;
    strict->set_verify_callback([&calls](bool, asio::ssl::verify_context&) {
        ++calls;
        return false;
    });
    co.tls = strict;
    CHECK(tls_error_with("server-chain.pem", "server.key", co) == errc::tls_certificate_invalid);
    CHECK(calls > 0);
}

TEST_CASE("TLS: a bad CA file is a clear error at construction", "[http-client][tls]") {
    asio::io_context ioc;
    oidc::http::client_options co;
    co.ca_file = "/nonexistent/ca.pem";
    CHECK_THROWS_AS(client(ioc.get_executor(), co), std::system_error);
}

// ---- completion tokens and cancellation ----

TEST_CASE("any completion token: use_awaitable throws, as_tuple, use_future", "[http-client]") {
    test_server srv(echo_json);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    bool threw = false;
    int status = 0;
    std::error_code tuple_ec;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto res = co_await c.async_send(get(srv.url("/aw")));
            status = res.status;
            try {
                co_await c.async_send(get("ftp://127.0.0.1/"));
            } catch (const std::system_error& e) {
                threw = e.code() == errc::url_invalid;
            }
            auto [ec, r] = co_await c.async_send(get("nope"), oidc::net::use_nothrow_awaitable);
            tuple_ec = ec;
        },
        asio::detached);
    ioc.run_for(10s);
    CHECK(status == 200);
    CHECK(threw);
    CHECK(tuple_ec == errc::url_invalid);

    ioc.restart();
    auto work = asio::make_work_guard(ioc); // before the thread starts: run_for needs work
    std::thread t([&] { ioc.run_for(10s); });
    std::future<oidc::http::response> f = c.async_send(get(srv.url("/fut")), asio::use_future);
    auto st = f.wait_for(10s);
    work.reset();
    ioc.stop();
    t.join();
    REQUIRE(st == std::future_status::ready);
    CHECK(f.get().body == "{\"line\":\"GET /fut HTTP/1.1\"}");
}

TEST_CASE("the handler is never called inside async_send", "[http-client]") {
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc::http::client_options{});
    bool called = false;
    c.async_send(get("http://127.0.0.1/"), [&](std::error_code ec, oidc::http::response) {
        called = true;
        CHECK(ec == errc::insecure_scheme);
    });
    CHECK_FALSE(called);
    ioc.run_for(5s);
    CHECK(called);
}

TEST_CASE("cancellation_signal cancels a request and drops its connection", "[http-client]") {
    std::atomic<bool> peer_closed{false};
    test_server srv([&](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.read_request();
        peer_closed = co_await c.wait_closed(10s); // never answers
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    asio::cancellation_signal sig;
    oidc_test::sent out;
    c.async_send(
        get(srv.url("/hang")),
        asio::bind_cancellation_slot(sig.slot(), [&](std::error_code ec, oidc::http::response r) {
            out.ec = ec;
            out.res = std::move(r);
            out.completed = true;
        }));
    asio::steady_timer t(ioc, 150ms);
    t.async_wait([&](std::error_code) { sig.emit(asio::cancellation_type::terminal); });
    auto t0 = std::chrono::steady_clock::now();
    while (!out.completed && std::chrono::steady_clock::now() - t0 < 10s)
        ioc.run_one_for(50ms);
    REQUIRE(out.completed);
    CHECK(out.ec == asio::error::operation_aborted);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    CHECK(c.idle_connections() == 0);
    for (int i = 0; i < 100 && !peer_closed; ++i)
        std::this_thread::sleep_for(20ms);
    CHECK(peer_closed);
}

TEST_CASE("awaitable operators race a request against a timer", "[http-client]") {
    using namespace asio::experimental::awaitable_operators;
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.read_request();
        co_await c.wait_closed(10s);
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    int winner = -1;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
            auto r =
                co_await (c.async_send(get(srv.url("/"))) || t.async_wait(asio::use_awaitable));
            winner = static_cast<int>(r.index());
        },
        asio::detached);
    ioc.run_for(10s);
    CHECK(winner == 1);
    CHECK(c.idle_connections() == 0);
}

TEST_CASE("a loop of requests does not starve the other handlers of its thread", "[http-client]") {
    // Requests that complete without waiting (the response was there when the request
    // was written) do not suspend their caller; the client yields now and then anyway.
    test_server srv(echo_json);
    asio::io_context ioc(1);
    client c(ioc.get_executor(), oidc_test::test_client_options());
    int done = 0;
    int done_when_timer_fired = -1; // the done count when a posted handler ran
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 300; ++i) {
                if (i == 50) // runs at the caller's next suspension
                    asio::post(ioc, [&] { done_when_timer_fired = done; });
                auto [ec, r] =
                    co_await c.async_send(get(srv.url("/l")), oidc::net::use_nothrow_awaitable);
                if (ec)
                    co_return;
                ++done;
            }
        },
        asio::detached);
    ioc.run_for(30s);
    CHECK(done == 300);
    CHECK(done_when_timer_fired >= 50);
    CHECK(done_when_timer_fired <= 50 + int(oidc::http::detail::max_inline_streak));
}

// ---- pool ----

TEST_CASE("pool: bounded per origin", "[http-client][pool]") {
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        for (;;) {
            std::string req = co_await c.read_request();
            if (req.empty())
                co_return;
            co_await oidc_test::sleep_for(50ms); // keep requests overlapping
            co_await c.write(ok_response("{}"));
        }
    });
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.max_idle_per_origin = 2;
    client c(ioc.get_executor(), co);
    int done = 0;
    for (int i = 0; i < 4; ++i)
        c.async_send(get(srv.url("/")), [&](std::error_code ec, oidc::http::response) {
            CHECK_FALSE(ec);
            ++done;
        });
    ioc.run_for(10s);
    CHECK(done == 4);
    CHECK(srv.accepted() == 4);
    CHECK(c.idle_connections() == 2);
    c.close_idle();
    CHECK(c.idle_connections() == 0);
}

TEST_CASE("pool: an idle connection the server closed is not used", "[http-client][pool]") {
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.read_request();
        co_await c.write(ok_response("{}")); // keep-alive announced, then closed
        c.close();
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    REQUIRE_FALSE(send_now(ioc, c, get(srv.url("/1"))).ec);
    std::this_thread::sleep_for(100ms); // the FIN arrives while idle
    auto r = send_now(ioc, c, get(srv.url("/2")));
    REQUIRE_FALSE(r.ec);
    CHECK(srv.accepted() == 2);
}

namespace {

/// A server whose first connection answers its first request, then reads the second one
/// and drops the connection without an answer (`reset`: an RST, else a FIN); later
/// connections answer everything. `requests` counts the requests it read.
test_server drop_second_request(std::atomic<int>& requests, bool reset) {
    return test_server([&requests, reset](server_conn& c, int index) -> asio::awaitable<void> {
        for (int n = 0;; ++n) {
            std::string req = co_await c.read_request();
            if (req.empty())
                co_return;
            ++requests;
            if (index == 0 && n == 1) {
                if (reset) {
                    std::error_code ignored;
                    c.socket().set_option(asio::socket_base::linger(true, 0), ignored);
                    c.socket().close(ignored);
                } else {
                    c.close();
                }
                co_return;
            }
            co_await c.write(ok_response("{\"c\":" + std::to_string(index) + "}"));
        }
    });
}

} // namespace

TEST_CASE("pool: the stale keep-alive race is retried once on a fresh connection for idempotent "
          "methods",
          "[http-client][pool][retry]") {
    auto method = GENERATE(oidc::http::verb::get, oidc::http::verb::put, oidc::http::verb::delete_);
    const bool reset = GENERATE(false, true);
    std::atomic<int> requests{0};
    test_server srv = drop_second_request(requests, reset);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto req = get(srv.url("/"));
    req.method = method;
    REQUIRE_FALSE(send_now(ioc, c, req).ec);
    auto r = send_now(ioc, c, req);
    REQUIRE_FALSE(r.ec);
    CHECK(r.res.body == "{\"c\":1}");
    CHECK(srv.accepted() == 2);
    CHECK(requests == 3);
    // A fresh connection closed the same way is not retried.
    c.close_idle();
    test_server rude([](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.read_request();
        c.close();
    });
    auto r2 = send_now(ioc, c, get(rude.url("/")));
    CHECK(r2.ec == errc::http_truncated);
    CHECK(rude.accepted() == 1);
}

TEST_CASE("pool: a POST whose reused connection dies after it was written is not replayed",
          "[http-client][pool][retry]") {
    auto method = GENERATE(oidc::http::verb::post, oidc::http::verb::patch);
    const bool reset = GENERATE(false, true);
    std::atomic<int> requests{0};
    test_server srv = drop_second_request(requests, reset);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto req = get(srv.url("/token"));
    req.method = method;
    req.body = "grant_type=authorization_code&code=once";
    REQUIRE_FALSE(send_now(ioc, c, req).ec);
    auto r = send_now(ioc, c, req);
    // The request reached the server, which may have acted on it: an error, no replay.
    CHECK(r.ec);
    CHECK(r.res.status == 0);
    CHECK(srv.accepted() == 1);
    CHECK(requests == 2); // the second POST exactly once
    CHECK(c.idle_connections() == 0);
}

TEST_CASE("pool: retry_non_idempotent replays a POST once on a fresh connection",
          "[http-client][pool][retry]") {
    const bool per_client = GENERATE(false, true);
    std::atomic<int> requests{0};
    test_server srv = drop_second_request(requests, true);
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.retry_non_idempotent = per_client;
    client c(ioc.get_executor(), co);
    CHECK(c.default_send_options().retry_non_idempotent == per_client);
    auto so = c.default_send_options();
    so.retry_non_idempotent = true;
    auto req = get(srv.url("/token"));
    req.method = oidc::http::verb::post;
    req.body = "grant_type=client_credentials";
    REQUIRE_FALSE(send_now(ioc, c, req).ec);
    auto r = per_client ? send_now(ioc, c, req) : send_now(ioc, c, req, so);
    REQUIRE_FALSE(r.ec);
    CHECK(r.res.body == "{\"c\":1}");
    CHECK(srv.accepted() == 2);
    CHECK(requests == 3); // replayed: the server saw the second POST twice
}

TEST_CASE("pool: a POST checks an idle connection for a server close and takes a fresh one",
          "[http-client][pool][retry]") {
    oidc_test::server_options so;
    so.tls = GENERATE(false, true);
    std::atomic<int> requests{0};
    test_server srv(
        [&](server_conn& c, int) -> asio::awaitable<void> {
            if ((co_await c.read_request()).empty())
                co_return;
            ++requests;
            co_await c.write(ok_response("{}")); // keep-alive announced, then closed
            c.close();
        },
        so);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto req = get(srv.url("/token"));
    req.method = oidc::http::verb::post;
    req.body = "a=b";
    REQUIRE_FALSE(send_now(ioc, c, req).ec);
    CHECK(c.idle_connections() == 1);
    std::this_thread::sleep_for(100ms); // the FIN arrives while idle (well within 1 s)
    // Without the check the POST would be written to the closed connection and fail
    // (not replayed); with it, the dead connection is dropped before any byte is sent.
    auto r = send_now(ioc, c, req);
    REQUIRE_FALSE(r.ec);
    CHECK(r.res.status == 200);
    CHECK(srv.accepted() == 2);
    CHECK(requests == 2);
}

TEST_CASE("pool: the check before a POST keeps a live keep-alive connection",
          "[http-client][pool][retry]") {
    // The probe must not mistake a live connection for a closed one: after a GET, TLS 1.3
    // session tickets or nothing at all may sit on the socket; the POSTs reuse it.
    oidc_test::server_options so;
    so.tls = GENERATE(false, true);
    test_server srv(echo_json, so);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    REQUIRE_FALSE(send_now(ioc, c, get(srv.url("/a"))).ec);
    std::this_thread::sleep_for(50ms); // whatever the server still sends has arrived
    auto req = get(srv.url("/token"));
    req.method = oidc::http::verb::post;
    req.body = "a=b";
    for (int i = 0; i < 3; ++i) {
        auto r = send_now(ioc, c, req);
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.body.find("POST /token") != std::string::npos);
    }
    CHECK(srv.accepted() == 1);
    CHECK(c.idle_connections() == 1);
}

TEST_CASE("pool: late bytes of a response are never read as the next request's response",
          "[http-client][pool]") {
    // The first answer's tail arrives 20 ms after its head: a HEAD answered with a body
    // written separately (here a whole second response), then a 200 whose body is longer
    // than its Content-Length. Each must cost its connection, not shift the responses.
    test_server srv([](server_conn& c, int) -> asio::awaitable<void> {
        for (;;) {
            std::string req = co_await c.read_request();
            if (req.empty())
                co_return;
            std::string line = req.substr(0, req.find("\r\n"));
            std::string body = "{\"line\":\"" + line + "\"}";
            if (line.find(" /first ") != std::string::npos) {
                co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n");
                co_await oidc_test::sleep_for(20ms);
                co_await c.write(ok_response(body));
            } else if (line.find(" /fourth ") != std::string::npos) {
                co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                co_await oidc_test::sleep_for(20ms);
                co_await c.write("{\"tail\":true}");
            } else if (!co_await c.write(ok_response(body))) {
                co_return;
            }
        }
    });
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options());
    auto head = get(srv.url("/first"));
    head.method = oidc::http::verb::head;
    auto r1 = send_now(ioc, c, std::move(head));
    REQUIRE_FALSE(r1.ec);
    CHECK(r1.res.body.empty());
    std::this_thread::sleep_for(100ms); // the tail is on the pooled connection now
    for (const char* path : {"/second", "/third"}) {
        auto r = send_now(ioc, c, get(srv.url(path)));
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.body == std::string("{\"line\":\"GET ") + path + " HTTP/1.1\"}");
    }
    CHECK(srv.accepted() == 2); // the first connection was dropped, the second one kept
    // A new connection whose first answer has a short Content-Length and a late tail.
    c.close_idle();
    auto r2 = send_now(ioc, c, get(srv.url("/fourth")));
    REQUIRE_FALSE(r2.ec);
    CHECK(r2.res.body == "{}");
    std::this_thread::sleep_for(100ms);
    auto r3 = send_now(ioc, c, get(srv.url("/fifth")));
    REQUIRE_FALSE(r3.ec);
    CHECK(r3.res.body == "{\"line\":\"GET /fifth HTTP/1.1\"}");
    CHECK(srv.accepted() == 4);
}

TEST_CASE("pool: idle connections expire after max_idle_time", "[http-client][pool]") {
    test_server srv(echo_json);
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.max_idle_time = 50ms;
    client c(ioc.get_executor(), co);
    REQUIRE_FALSE(send_now(ioc, c, get(srv.url("/"))).ec);
    std::this_thread::sleep_for(120ms);
    REQUIRE_FALSE(send_now(ioc, c, get(srv.url("/"))).ec);
    CHECK(srv.accepted() == 2);
}

// ---- proxy ----

namespace {

asio::awaitable<void> pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to) {
    char buf[8192];
    for (;;) {
        auto [ec, n] =
            co_await from.async_read_some(asio::buffer(buf), oidc::net::use_nothrow_awaitable);
        if (n > 0) {
            auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf, n),
                                                        oidc::net::use_nothrow_awaitable);
            if (wec)
                break;
        }
        if (ec)
            break;
    }
    std::error_code ignored;
    to.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

/// A tiny CONNECT proxy that records the request lines it saw.
struct connect_proxy {
    std::mutex mu;
    std::vector<std::string> lines;
    test_server srv{[this](server_conn& c, int) -> asio::awaitable<void> {
        std::string req = co_await c.read_request();
        std::string line = req.substr(0, req.find("\r\n"));
        {
            std::lock_guard<std::mutex> l(mu);
            lines.push_back(line);
        }
        if (line.rfind("CONNECT 127.0.0.1:", 0) != 0) {
            co_await c.write("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
            co_return;
        }
        auto port = static_cast<unsigned short>(std::stoi(line.substr(18)));
        auto ex = co_await asio::this_coro::executor;
        asio::ip::tcp::socket up(ex);
        auto [ec] = co_await up.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                              oidc::net::use_nothrow_awaitable);
        if (ec) {
            co_await c.write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            co_return;
        }
        co_await c.write("HTTP/1.1 200 Connection established\r\n\r\n");
        using namespace asio::experimental::awaitable_operators;
        co_await (pump(c.socket(), up) && pump(up, c.socket()));
    }};
};

} // namespace

TEST_CASE("proxy: https through HTTP CONNECT, TLS inside the tunnel", "[http-client][proxy]") {
    oidc_test::server_options so;
    so.tls = true;
    test_server target(echo_json, so);
    connect_proxy proxy;
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.proxy = "http://127.0.0.1:" + std::to_string(proxy.srv.port());
    client c(ioc.get_executor(), co);
    for (int i = 0; i < 2; ++i) {
        auto r = send_now(ioc, c, get(target.url("/via-proxy")));
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.body == "{\"line\":\"GET /via-proxy HTTP/1.1\"}");
    }
    CHECK(proxy.srv.accepted() == 1); // the tunnel is kept alive
    std::lock_guard<std::mutex> l(proxy.mu);
    REQUIRE(proxy.lines.size() == 1);
    CHECK(proxy.lines[0] == "CONNECT 127.0.0.1:" + std::to_string(target.port()) + " HTTP/1.1");
}

TEST_CASE("proxy: a refused CONNECT and a bad proxy setting are clear errors",
          "[http-client][proxy]") {
    connect_proxy proxy;
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.proxy = "127.0.0.1:" + std::to_string(proxy.srv.port()); // scheme-less form
    client c(ioc.get_executor(), co);
    auto r = send_now(ioc, c, get("https://localhost:1/"));
    CHECK(r.ec == errc::proxy_connect_failed);
    co.proxy = "https://127.0.0.1:1";
    client bad(ioc.get_executor(), co);
    CHECK(send_now(ioc, bad, get("https://127.0.0.1:1/")).ec == errc::url_invalid);
}

TEST_CASE("proxy: a cancellation while the CONNECT answer is awaited is operation_aborted",
          "[http-client][proxy]") {
    test_server proxy([](server_conn& c, int) -> asio::awaitable<void> {
        co_await c.read_request();   // the CONNECT
        co_await c.wait_closed(10s); // never answers
    });
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
    client c(ioc.get_executor(), co);
    asio::cancellation_signal sig;
    oidc_test::sent out;
    c.async_send(
        get("https://127.0.0.1:9/token"),
        asio::bind_cancellation_slot(sig.slot(), [&](std::error_code ec, oidc::http::response) {
            out.ec = ec;
            out.completed = true;
        }));
    asio::steady_timer t(ioc, 200ms);
    t.async_wait([&](std::error_code) { sig.emit(asio::cancellation_type::terminal); });
    const auto t0 = std::chrono::steady_clock::now();
    while (!out.completed && std::chrono::steady_clock::now() - t0 < 10s)
        ioc.run_one_for(20ms);
    REQUIRE(out.completed);
    CHECK(out.ec == asio::error::operation_aborted);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("proxy: from the environment, with no_proxy", "[http-client][proxy]") {
    oidc_test::server_options so;
    so.tls = true;
    test_server target(echo_json, so);
    connect_proxy proxy;
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.proxy_from_environment = true;
    std::string p = "http://127.0.0.1:" + std::to_string(proxy.srv.port());
    ::setenv("https_proxy", p.c_str(), 1);
    ::setenv("no_proxy", "example.com,127.0.0.1", 1);
    client direct(ioc.get_executor(), co);
    ::setenv("no_proxy", "example.com", 1);
    client proxied(ioc.get_executor(), co);
    ::unsetenv("https_proxy");
    ::unsetenv("no_proxy");
    REQUIRE_FALSE(send_now(ioc, direct, get(target.url("/"))).ec);
    CHECK(proxy.srv.accepted() == 0);
    REQUIRE_FALSE(send_now(ioc, proxied, get(target.url("/"))).ec);
    CHECK(proxy.srv.accepted() == 1);
}

TEST_CASE("no_proxy matching", "[http-client][proxy]") {
    using oidc::http::detail::no_proxy_matches;
    CHECK(no_proxy_matches("*", "anything.test"));
    CHECK(no_proxy_matches("example.com", "example.com"));
    CHECK(no_proxy_matches("example.com", "api.example.com"));
    CHECK(no_proxy_matches(".example.com", "api.example.com"));
    CHECK(no_proxy_matches(" a.test , Example.COM ", "example.com"));
    CHECK_FALSE(no_proxy_matches("example.com", "badexample.com"));
    CHECK_FALSE(no_proxy_matches("api.example.com", "example.com"));
    CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    CHECK(no_proxy_matches("localhost:8443", "localhost"));
    CHECK(no_proxy_matches("[::1]", "::1"));
    CHECK(no_proxy_matches("::1", "::1"));
    CHECK_FALSE(no_proxy_matches("", "example.com"));
    CHECK_FALSE(no_proxy_matches(",,", "example.com"));
    CHECK_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.10"));
    // an IP literal host never matches by suffix, but an equal address does
    CHECK_FALSE(no_proxy_matches("0.0.1", "10.0.0.1"));
    CHECK(no_proxy_matches("0::1", "::1"));
    CHECK(no_proxy_matches("example.com,10.0.0.1:8080", "10.0.0.1"));
}

TEST_CASE("no_proxy CIDR ranges", "[http-client][proxy]") {
    using oidc::http::detail::cidr_contains;
    using oidc::http::detail::no_proxy_matches;
    CHECK(no_proxy_matches("10.0.0.0/8", "10.1.2.3"));
    CHECK(no_proxy_matches("10.0.0.0/8", "10.255.255.255"));
    CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "11.0.0.1"));
    CHECK(no_proxy_matches("example.com, 192.168.0.0/16", "192.168.44.1"));
    CHECK_FALSE(no_proxy_matches("192.168.0.0/16", "192.169.0.1"));
    CHECK(no_proxy_matches("172.16.0.0/12", "172.31.255.1"));
    CHECK_FALSE(no_proxy_matches("172.16.0.0/12", "172.32.0.1"));
    CHECK(no_proxy_matches("127.0.0.1/32", "127.0.0.1"));
    CHECK_FALSE(no_proxy_matches("127.0.0.1/32", "127.0.0.2"));
    CHECK(no_proxy_matches("0.0.0.0/0", "203.0.113.9"));
    CHECK(no_proxy_matches("::1/128", "::1"));
    CHECK(no_proxy_matches("[::1]/128", "::1"));
    CHECK_FALSE(no_proxy_matches("::1/128", "::2"));
    CHECK(no_proxy_matches("fd00::/8", "fd12:3456::1"));
    CHECK_FALSE(no_proxy_matches("fd00::/8", "fe80::1"));
    CHECK(no_proxy_matches("2001:db8::/33", "2001:db8:7fff::1"));
    CHECK_FALSE(no_proxy_matches("2001:db8::/33", "2001:db8:8000::1"));
    // an IPv4 range holds the IPv4-mapped IPv6 form; families never mix otherwise
    CHECK(no_proxy_matches("10.0.0.0/8", "::ffff:10.0.0.1"));
    CHECK_FALSE(no_proxy_matches("::/0", "10.0.0.1"));
    CHECK_FALSE(no_proxy_matches("0.0.0.0/0", "::1"));
    // host names are not resolved: a range never matches a name
    CHECK_FALSE(no_proxy_matches("127.0.0.0/8", "localhost"));
    // malformed ranges match nothing (and do not stop the list)
    for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "/8", "10.0.0.0/8x",
                            "10.0.0.0/-1", "host.test/8", "10.0.0.0/0008"})
        CHECK_FALSE(no_proxy_matches(bad, "10.0.0.1"));
    CHECK(no_proxy_matches("10.0.0.0/33,10.0.0.0/8", "10.0.0.1"));
    CHECK(cidr_contains("10.0.0.0/31", asio::ip::make_address("10.0.0.1")));
    CHECK_FALSE(cidr_contains("10.0.0.0/31", asio::ip::make_address("10.0.0.2")));
}

// ---- threads ----

TEST_CASE("200 concurrent coroutines share one client on a 2-thread io_context",
          "[http-client][threads]") {
    auto tls = GENERATE(false, true);
    oidc_test::server_options so;
    so.tls = tls;
    test_server srv(echo_json, so);
    asio::io_context ioc(2);
    auto co = oidc_test::test_client_options();
    co.max_idle_per_origin = 16;
    // The point is thread safety, not speed: a loaded machine (sanitizers, 200 TLS
    // handshakes on a one-thread server) must not turn into timeouts.
    co.timeout.handshake = co.timeout.read = co.timeout.write = 30s;
    client c(ioc.get_executor(), co);
    std::atomic<int> ok{0}, failed{0};
    std::mutex mu;
    std::string first_error;
    constexpr int n = 200;
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            ioc,
            [&, i]() -> asio::awaitable<void> {
                for (int k = 0; k < 3; ++k) {
                    auto [ec, r] = co_await c.async_send(get(srv.url("/c" + std::to_string(i))),
                                                         oidc::net::use_nothrow_awaitable);
                    if (!ec && r.body == "{\"line\":\"GET /c" + std::to_string(i) + " HTTP/1.1\"}")
                        ++ok;
                    else {
                        ++failed;
                        std::lock_guard<std::mutex> l(mu);
                        if (first_error.empty())
                            first_error = ec.message() + " status " + std::to_string(r.status);
                    }
                }
            },
            asio::detached);
    std::thread t1([&] { ioc.run_for(60s); });
    std::thread t2([&] { ioc.run_for(60s); });
    t1.join();
    t2.join();
    CHECK(ok == 3 * n);
    CHECK(failed == 0);
    CHECK(first_error == "");
    CHECK(c.idle_connections() <= 16);
    // Connections beyond the pool bound are closed after use, so later rounds may open
    // new ones; never more than one per request.
    CHECK(srv.accepted() <= 3 * n);
    c.close_idle();
}

TEST_CASE("connecting by name and to several endpoints under short timeouts on 4 threads",
          "[http-client][threads]") {
    // The timeout handler runs on any thread of the context while the connecting
    // coroutine closes and opens the socket for the next endpoint: under ThreadSanitizer
    // this must show no race. The first endpoint refuses (a closed port), the second
    // accepts; the timeouts are so short that some attempts time out at every step.
    test_server srv(echo_json);
    asio::ip::tcp::endpoint refusing;
    {
        asio::io_context tmp;
        asio::ip::tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
        refusing = a.local_endpoint(); // closed again: connecting is refused
    }
    const asio::ip::tcp::endpoint accepting(asio::ip::make_address("127.0.0.1"), srv.port());
    asio::io_context ioc(4);
    auto co = oidc_test::test_client_options();
    co.max_idle_per_origin = 0; // every request connects
    std::atomic<int> ok{0}, timed_out{0}, other{0};
    std::mutex mu;
    std::string unexpected;
    auto record = [&](std::error_code ec) {
        if (!ec)
            ++ok;
        else if (ec == errc::timed_out)
            ++timed_out;
        else {
            ++other;
            std::lock_guard<std::mutex> l(mu);
            unexpected = ec.message();
        }
    };
    std::vector<std::unique_ptr<client>> clients;
    constexpr int n = 24;
    for (int i = 0; i < n; ++i) {
        auto o = co;
        const auto t = std::chrono::milliseconds(i % 4); // 0 to 3 ms
        o.timeout.resolve = o.timeout.connect = o.timeout.read = o.timeout.write = t;
        clients.push_back(std::make_unique<client>(ioc.get_executor(), o));
        client& c = *clients.back();
        asio::co_spawn(
            ioc,
            [&, i, t]() -> asio::awaitable<void> {
                for (int k = 0; k < 8; ++k) {
                    // By name (localhost: one or more endpoints, ::1 may refuse).
                    auto [ec, r] = co_await c.async_send(
                        get("http://localhost:" + std::to_string(srv.port()) + "/n"),
                        oidc::net::use_nothrow_awaitable);
                    if (ec != asio::error::connection_refused) // localhost = ::1 only
                        record(ec);
                    // Two endpoints, the first refusing, on a connection of its own.
                    auto conn = std::make_shared<oidc::http::connection>(
                        co_await asio::this_coro::executor, nullptr);
                    std::vector<asio::ip::tcp::endpoint> eps{refusing, accepting};
                    std::error_code cec = co_await conn->connect_endpoints(
                        std::move(eps), i % 8 < 4 ? t : std::chrono::milliseconds(5000));
                    record(cec);
                    conn->close();
                }
            },
            asio::detached);
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] { ioc.run_for(60s); });
    for (auto& t : threads)
        t.join();
    INFO(unexpected);
    CHECK(other == 0);
    CHECK(ok + timed_out > 0);
    CHECK(ok > 0); // the 5 s connects and the 3 ms ones mostly succeed
    CHECK(ok + timed_out + other <= 2 * 8 * n);
}

// ---- against a real nginx (scripts/stages/20-http.sh starts it; hidden otherwise) ----

namespace {
// The nginx's base URL; `co` trusts its CA.
std::string nginx_base(oidc::http::client_options& co) {
    const char* base = std::getenv("OIDC_TEST_NGINX_URL");
    const char* ca = std::getenv("OIDC_TEST_NGINX_CA");
    REQUIRE(base != nullptr);
    REQUIRE(ca != nullptr);
    co.ca_file = ca;
    return base;
}
} // namespace

TEST_CASE("nginx over HTTPS: keep-alive on one connection, Connection: close honoured",
          "[.nginx]") {
    oidc::http::client_options co;
    const std::string base = nginx_base(co);
    asio::io_context ioc;
    client c(ioc.get_executor(), co);
    std::string first_connection;
    for (int i = 1; i <= 20; ++i) {
        oidc::http::request req = get(base + "/json");
        req.headers.set("Authorization", "Bearer " + std::string(1900, 'x'));
        auto r = send_now(ioc, c, std::move(req));
        REQUIRE(r.completed);
        REQUIRE_FALSE(r.ec);
        CHECK(r.res.status == 200);
        CHECK(r.res.headers.get("content-type") == "application/json");
        const std::string& b = r.res.body;
        auto conn = b.substr(b.find("\"connection\":"),
                             b.find(",\"requests\"") - b.find("\"connection\":"));
        if (i == 1)
            first_connection = conn;
        CHECK(conn == first_connection);
        CHECK(b.find("\"requests\":" + std::to_string(i) + "}") != std::string::npos);
    }
    CHECK(c.idle_connections() == 1);
    auto closing = send_now(ioc, c, get(base + "/close"));
    REQUIRE_FALSE(closing.ec);
    CHECK(closing.res.body == "{\"closing\":true}");
    CHECK(c.idle_connections() == 0);
    auto missing = send_now(ioc, c, get(base + "/missing"));
    REQUIRE_FALSE(missing.ec);
    CHECK(missing.res.status == 404);
    auto head = get(base + "/json");
    head.method = oidc::http::verb::head;
    auto h = send_now(ioc, c, head);
    REQUIRE_FALSE(h.ec);
    CHECK(h.res.body.empty());
    auto again = send_now(ioc, c, get(base + "/json"));
    REQUIRE_FALSE(again.ec);
    // the 404, the HEAD, then this one on the same connection
    CHECK(again.res.body.find("\"requests\":3}") != std::string::npos);
}

TEST_CASE("nginx over HTTPS: a new connection resumes the origin's TLS session", "[.nginx]") {
    oidc::http::client_options co;
    const std::string base = nginx_base(co);
    asio::io_context ioc;
    client c(ioc.get_executor(), co);
    const std::string url = base + "/session";
    auto first = send_now(ioc, c, get(url));
    REQUIRE_FALSE(first.ec);
    CHECK(first.res.body.find("\"reused\":\".\"") != std::string::npos);
    for (int i = 0; i < 3; ++i) {
        c.close_idle(); // the next request needs a new connection
        auto again = send_now(ioc, c, get(url));
        REQUIRE_FALSE(again.ec);
        INFO(again.res.body);
        CHECK(again.res.body.find("\"reused\":\"r\"") != std::string::npos);
    }
    // another client has its own cache: a full handshake
    client other(ioc.get_executor(), co);
    auto fresh = send_now(ioc, other, get(url));
    REQUIRE_FALSE(fresh.ec);
    CHECK(fresh.res.body.find("\"reused\":\".\"") != std::string::npos);
    // switched off: every connection does a full handshake
    co.resume_tls_sessions = false;
    client off(ioc.get_executor(), co);
    for (int i = 0; i < 2; ++i) {
        off.close_idle();
        auto full = send_now(ioc, off, get(url));
        REQUIRE_FALSE(full.ec);
        CHECK(full.res.body.find("\"reused\":\".\"") != std::string::npos);
    }
}

// ---- a DNS server that never answers (the http-dns stage of scripts/stages/20-http.sh runs
// these in private mount and network namespaces whose /etc/resolv.conf names only
// 127.0.0.1, with "options timeout:2 attempts:1": getaddrinfo then takes about 2 s) ----

namespace {

using oidc_test::dns_blackhole;

// getaddrinfo's own time here (resolv.conf: one attempt of 2 s); the requests below must end
// well before it.
constexpr auto system_resolver_time = 2s;
constexpr auto slow_dns_url = "http://idp.slow-dns.test:8080/token";

} // namespace

TEST_CASE("a resolve that DNS never answers ends at the resolve timeout", "[.slow-dns]") {
    dns_blackhole dns;
    asio::io_context ioc;
    auto co = oidc_test::test_client_options();
    co.timeout.resolve = 300ms;
    client c(ioc.get_executor(), co);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = send_now(ioc, c, get(slow_dns_url));
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(r.completed);
    CHECK(r.ec == errc::timed_out);
    CHECK(took >= 250ms);
    CHECK(took < system_resolver_time - 800ms);
    CHECK(dns.queries() >= 1);
    CHECK(c.idle_connections() == 0);
}

TEST_CASE("a cancellation ends a resolve that DNS never answers", "[.slow-dns]") {
    dns_blackhole dns;
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options()); // resolve timeout 5 s
    asio::cancellation_signal sig;
    oidc_test::sent out;
    const auto t0 = std::chrono::steady_clock::now();
    c.async_send(get(slow_dns_url), asio::bind_cancellation_slot(
                                        sig.slot(), [&](std::error_code ec, oidc::http::response) {
                                            out.ec = ec;
                                            out.completed = true;
                                        }));
    asio::steady_timer t(ioc, 200ms);
    t.async_wait([&](std::error_code) { sig.emit(asio::cancellation_type::terminal); });
    while (!out.completed && std::chrono::steady_clock::now() - t0 < 10s)
        ioc.run_one_for(20ms);
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(out.completed);
    CHECK(out.ec == asio::error::operation_aborted);
    CHECK(took < system_resolver_time - 800ms);
    CHECK(dns.queries() >= 1);
    // The late answer of getaddrinfo is dropped: running the context to its end calls
    // nothing twice and leaves the client usable.
    ioc.restart();
    ioc.run_for(system_resolver_time + 2s);
    CHECK(out.completed);
}

TEST_CASE("slow resolves on 4 threads: each ends at its timeout, the client serves IP targets "
          "meanwhile",
          "[.slow-dns]") {
    dns_blackhole dns;
    test_server srv(echo_json);
    asio::io_context ioc(4);
    auto co = oidc_test::test_client_options();
    co.timeout.resolve = 300ms;
    client c(ioc.get_executor(), co);
    constexpr int n = 16;
    std::atomic<int> timed_out{0}, ok{0}, other{0};
    std::atomic<int> done{0};
    std::mutex mu;
    std::vector<std::chrono::steady_clock::duration> took;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        asio::co_spawn(
            ioc,
            [&, i]() -> asio::awaitable<void> {
                // Half to the silent DNS (by name), half to the test server (by address).
                const bool slow = i % 2 == 0;
                auto req = get(slow ? std::string(slow_dns_url) : srv.url("/ip"));
                auto [ec, res] =
                    co_await c.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
                if (slow) {
                    std::lock_guard<std::mutex> lock(mu);
                    took.push_back(std::chrono::steady_clock::now() - t0);
                }
                if (ec == errc::timed_out)
                    ++timed_out;
                else if (!ec && res.status == 200)
                    ++ok;
                else
                    ++other;
                ++done;
            },
            asio::detached);
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            while (done.load() < n &&
                   std::chrono::steady_clock::now() - t0 < system_resolver_time * 3)
                ioc.run_one_for(20ms);
        });
    for (auto& t : threads)
        t.join();
    CHECK(timed_out == n / 2);
    CHECK(ok == n / 2);
    CHECK(other == 0);
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(took.size() == static_cast<std::size_t>(n / 2));
    for (auto d : took)
        CHECK(d < system_resolver_time - 800ms);
    CHECK(dns.queries() >= 1);
}

TEST_CASE("a request to a name that DNS never answers does not hold back one to another name",
          "[.slow-dns]") {
    // fast.slow-dns.test is in the namespace's /etc/hosts: its lookup answers at once, also
    // while three lookups of the silent name are under way (Asio's own resolver would run
    // it after them, one getaddrinfo at a time).
    dns_blackhole dns;
    test_server srv(echo_json);
    asio::io_context ioc;
    client c(ioc.get_executor(), oidc_test::test_client_options()); // resolve timeout 5 s
    int slow_done = 0;
    for (int i = 0; i < 3; ++i)
        c.async_send(get(slow_dns_url),
                     [&](std::error_code, oidc::http::response) { ++slow_done; });
    oidc_test::sent fast;
    const auto t0 = std::chrono::steady_clock::now();
    ioc.run_for(100ms); // the silent lookups are under way
    c.async_send(get("http://fast.slow-dns.test:" + std::to_string(srv.port()) + "/fast"),
                 [&](std::error_code ec, oidc::http::response r) {
                     fast.ec = ec;
                     fast.res = std::move(r);
                     fast.completed = true;
                 });
    while (!fast.completed && std::chrono::steady_clock::now() - t0 < 10s)
        ioc.run_one_for(20ms);
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(fast.completed);
    REQUIRE_FALSE(fast.ec);
    CHECK(fast.res.body == "{\"line\":\"GET /fast HTTP/1.1\"}");
    CHECK(took < 700ms);
    CHECK(slow_done == 0); // still waiting for DNS
    CHECK(dns.queries() >= 1);
    // The silent lookups end with the system resolver's error, each on its own.
    ioc.restart();
    while (slow_done < 3 && std::chrono::steady_clock::now() - t0 < 10s)
        ioc.run_one_for(20ms);
    CHECK(slow_done == 3);
}
