// A small scripted HTTP server for the client tests: plain TCP or TLS on 127.0.0.1, its own
// io_context on its own thread, one script coroutine per accepted connection. It can
// misbehave on purpose (slow, truncated, garbage) since the script writes raw bytes.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/http/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace oidc_test {

/// The test PKI (scripts/make-certs.sh), made once per build directory next to the test
/// executable.
inline std::string pki_dir() {
    static std::once_flag once;
    static std::string dir;
    std::call_once(once, [] {
        auto exe = std::filesystem::read_symlink("/proc/self/exe");
        dir = (exe.parent_path() / "pki").string();
        std::string root = std::string(OIDC_TEST_FIXTURES_DIR) + "/../..";
        std::string cmd = "bash '" + root + "/scripts/make-certs.sh' '" + dir + "' >/dev/null";
        if (std::system(cmd.c_str()) != 0)
            throw std::runtime_error("scripts/make-certs.sh failed");
    });
    return dir;
}

inline std::string pki(const std::string& name) {
    return pki_dir() + "/" + name;
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(oidc::net::use_nothrow_awaitable);
}

/// "HTTP/1.1 200 OK" with Content-Length and `extra` header lines ("Name: v\r\n").
inline std::string ok_response(std::string_view body, std::string_view extra = {}) {
    std::string r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ";
    r += std::to_string(body.size());
    r += "\r\n";
    r += extra;
    r += "\r\n";
    r += body;
    return r;
}

/// One accepted connection, as seen by a script.
class server_conn {
public:
    using socket_type = asio::ip::tcp::socket;

    server_conn(socket_type s, asio::ssl::context* tls) {
        if (tls)
            tls_.emplace(std::move(s), *tls);
        else
            plain_.emplace(std::move(s));
    }

    socket_type& socket() { return tls_ ? tls_->next_layer() : *plain_; }
    bool is_tls() const { return tls_.has_value(); }

    /// TLS: the handshake resumed a session of an earlier connection (as the server saw
    /// it: SSL_session_reused on the server's SSL). False for plain TCP.
    bool session_reused() { return tls_ && SSL_session_reused(tls_->native_handle()) == 1; }

    /// TLS: the host name the client sent in SNI (empty without one, or for plain TCP).
    std::string server_name() {
        const char* n =
            tls_ ? SSL_get_servername(tls_->native_handle(), TLSEXT_NAMETYPE_host_name) : nullptr;
        return n ? n : "";
    }

    asio::awaitable<bool> handshake() {
        if (!tls_)
            co_return true;
        auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server,
                                                   oidc::net::use_nothrow_awaitable);
        co_return !ec;
    }

    /// Reads one request (head + Content-Length body). Empty on EOF or error.
    asio::awaitable<std::string> read_request() {
        for (;;) {
            auto end = buf_.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::size_t len = content_length(std::string_view(buf_).substr(0, end));
                std::size_t total = end + 4 + len;
                while (buf_.size() < total)
                    if (!co_await read_more())
                        co_return std::string();
                std::string req = buf_.substr(0, total);
                buf_.erase(0, total);
                co_return req;
            }
            if (buf_.size() > 1024 * 1024 || !co_await read_more())
                co_return std::string();
        }
    }

    /// Reads one request head (through the blank line), leaving any body unread. Empty on
    /// EOF or error.
    asio::awaitable<std::string> read_head() {
        for (;;) {
            auto end = buf_.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::string head = buf_.substr(0, end + 4);
                buf_.erase(0, end + 4);
                co_return head;
            }
            if (buf_.size() > 1024 * 1024 || !co_await read_more())
                co_return std::string();
        }
    }

    asio::awaitable<bool> write(std::string_view data) {
        std::error_code ec;
        std::size_t n = 0;
        if (tls_)
            std::tie(ec, n) = co_await asio::async_write(*tls_, asio::buffer(data),
                                                         oidc::net::use_nothrow_awaitable);
        else
            std::tie(ec, n) = co_await asio::async_write(*plain_, asio::buffer(data),
                                                         oidc::net::use_nothrow_awaitable);
        co_return !ec;
    }

    /// Waits until the peer closes (or `limit` passes); true when it closed.
    asio::awaitable<bool> wait_closed(std::chrono::milliseconds limit) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            if (!co_await read_more())
                co_return true;
        }
        co_return false;
    }

    void close() {
        std::error_code ignored;
        socket().shutdown(socket_type::shutdown_both, ignored);
        socket().close(ignored);
    }

private:
    static std::size_t content_length(std::string_view head) {
        std::size_t pos = 0;
        while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
            pos += 2;
            std::string_view line = head.substr(pos, head.find("\r\n", pos) - pos);
            if (line.size() > 15) {
                std::string name(line.substr(0, 15));
                for (auto& c : name)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                if (name == "content-length:")
                    return std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
            }
        }
        return 0;
    }

    asio::awaitable<bool> read_more() {
        char tmp[4096];
        std::error_code ec;
        std::size_t n = 0;
        if (tls_)
            std::tie(ec, n) =
                co_await tls_->async_read_some(asio::buffer(tmp), oidc::net::use_nothrow_awaitable);
        else
            std::tie(ec, n) = co_await plain_->async_read_some(asio::buffer(tmp),
                                                               oidc::net::use_nothrow_awaitable);
        buf_.append(tmp, n);
        co_return !ec || n > 0;
    }

    std::optional<socket_type> plain_;
    std::optional<asio::ssl::stream<socket_type>> tls_;
    std::string buf_;
};

struct server_options {
    bool tls = false;
    std::string cert_file; ///< PEM chain; default pki("server-chain.pem") when tls
    std::string key_file;  ///< default pki("server.key") when tls
    bool ipv6 = false;     ///< listen on ::1 instead of 127.0.0.1
};

/// Runs `script(conn, index)` for every accepted connection (index counts from 0).
class test_server {
public:
    using script_type = std::function<asio::awaitable<void>(server_conn&, int)>;

    explicit test_server(script_type script, server_options opts = {})
        : script_(std::move(script)), opts_(std::move(opts)),
          acceptor_(ioc_, asio::ip::tcp::endpoint(opts_.ipv6 ? asio::ip::make_address("::1")
                                                             : asio::ip::make_address("127.0.0.1"),
                                                  0)) {
        if (opts_.tls) {
            tls_.emplace(asio::ssl::context::tls_server);
            tls_->use_certificate_chain_file(opts_.cert_file.empty() ? pki("server-chain.pem")
                                                                     : opts_.cert_file);
            tls_->use_private_key_file(opts_.key_file.empty() ? pki("server.key") : opts_.key_file,
                                       asio::ssl::context::pem);
        }
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~test_server() {
        ioc_.stop();
        thread_.join();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    int accepted() const { return accepted_.load(); }
    asio::io_context& context() { return ioc_; }

    /// "http(s)://127.0.0.1:port" + path (or [::1]).
    std::string url(std::string_view path = "/") const {
        std::string u = opts_.tls ? "https://" : "http://";
        u += opts_.ipv6 ? "[::1]" : "127.0.0.1";
        u += ":" + std::to_string(port());
        u += path;
        return u;
    }

private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, s] = co_await acceptor_.async_accept(oidc::net::use_nothrow_awaitable);
            if (ec)
                co_return;
            int index = accepted_.fetch_add(1);
            asio::co_spawn(ioc_, serve(std::move(s), index), asio::detached);
        }
    }

    asio::awaitable<void> serve(asio::ip::tcp::socket s, int index) {
        auto conn = std::make_unique<server_conn>(std::move(s), tls_ ? &*tls_ : nullptr);
        try {
            if (!co_await conn->handshake())
                co_return;
            co_await script_(*conn, index);
        } catch (...) {
        }
    }

    script_type script_;
    server_options opts_;
    asio::io_context ioc_;
    std::optional<asio::ssl::context> tls_;
    asio::ip::tcp::acceptor acceptor_;
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

struct sent {
    std::error_code ec;
    oidc::http::response res;
    bool completed = false;
};

/// Sends one request with a callback and runs `ioc` until it completes (at most 20 s).
inline sent send_now(asio::io_context& ioc, oidc::http::client& c, oidc::http::request req,
                     std::optional<oidc::http::send_options> so = std::nullopt) {
    sent out;
    auto h = [&out](std::error_code ec, oidc::http::response r) {
        out.ec = ec;
        out.res = std::move(r);
        out.completed = true;
    };
    if (so)
        c.async_send(std::move(req), *so, h);
    else
        c.async_send(std::move(req), h);
    ioc.restart();
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!out.completed && std::chrono::steady_clock::now() < until)
        ioc.run_one_for(std::chrono::milliseconds(50));
    return out;
}

inline oidc::http::request get(std::string target) {
    oidc::http::request r;
    r.target = std::move(target);
    return r;
}

/// Client options for the test servers: the test CA, http:// allowed.
inline oidc::http::client_options test_client_options() {
    oidc::http::client_options o;
    o.allow_insecure_http = true;
    o.ca_file = pki("ca.pem");
    return o;
}

} // namespace oidc_test
