// A tiny protected API for the call() tests and benchmark: HTTP/1.1 keep-alive, plain or
// TLS, on 127.0.0.1. It answers 200 to a bearer token it accepts and 401 with
// `WWW-Authenticate: Bearer error="invalid_token"` to a revoked or missing one.
#pragma once

#include <oidc/detail/config.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <cctype>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace oidc_test {

class bearer_api {
public:
    struct state {
        std::mutex mu;
        std::set<std::string> revoked;
        bool reject_all = false;
        /// The challenge sent with a 401.
        std::string challenge = R"(Bearer realm="api", error="invalid_token")";
        std::atomic<int> requests{0};
        std::atomic<int> rejected{0};
        std::atomic<int> connections{0};
        asio::ssl::context* tls = nullptr;
    };

    explicit bearer_api(asio::any_io_executor ex, asio::ssl::context* tls = nullptr)
        : acc_(std::make_shared<asio::ip::tcp::acceptor>(
              ex, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0))),
          st_(std::make_shared<state>()) {
        st_->tls = tls;
        port_ = acc_->local_endpoint().port();
        asio::co_spawn(ex, accept_loop(acc_, st_), asio::detached);
    }
    ~bearer_api() {
        std::error_code ec;
        acc_->close(ec);
    }

    std::string url(std::string_view path = "/api") const {
        return std::string(st_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
               std::string(path);
    }
    void revoke(const std::string& token) {
        std::lock_guard<std::mutex> lock(st_->mu);
        st_->revoked.insert(token);
    }
    state& stats() { return *st_; }

private:
    static std::string lower(std::string_view s) {
        std::string o(s);
        for (auto& c : o)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return o;
    }

    static std::string header(std::string_view head, std::string_view name) {
        std::string lh = lower(head);
        std::string key = "\r\n" + lower(name) + ":";
        auto p = lh.find(key);
        if (p == std::string::npos)
            return {};
        p += key.size();
        auto e = head.find("\r\n", p);
        std::string_view v = head.substr(p, e - p);
        while (!v.empty() && v.front() == ' ')
            v.remove_prefix(1);
        return std::string(v);
    }

    template <class Stream>
    static asio::awaitable<void> serve(Stream& s, std::shared_ptr<state> st) {
        std::string buf;
        for (;;) {
            auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n",
                                                           oidc::net::use_nothrow_awaitable);
            if (ec)
                co_return;
            std::string head = buf.substr(0, n);
            buf.erase(0, n);
            std::size_t cl = 0;
            if (auto v = header(head, "Content-Length"); !v.empty())
                cl = std::stoul(v);
            if (buf.size() < cl) {
                auto [ec2, n2] = co_await asio::async_read(s, asio::dynamic_buffer(buf),
                                                           asio::transfer_exactly(cl - buf.size()),
                                                           oidc::net::use_nothrow_awaitable);
                (void)n2;
                if (ec2)
                    co_return;
            }
            buf.erase(0, cl);
            std::string auth = header(head, "Authorization");
            std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string();
            ++st->requests;
            bool ok;
            std::string challenge;
            {
                std::lock_guard<std::mutex> lock(st->mu);
                ok = !token.empty() && !st->reject_all && !st->revoked.count(token);
                challenge = st->challenge;
            }
            std::string resp;
            if (ok) {
                std::string body = R"({"ok":true})";
                resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body;
            } else {
                ++st->rejected;
                resp = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: " + challenge +
                       "\r\nContent-Length: 0\r\n\r\n";
            }
            auto [ec3, n3] =
                co_await asio::async_write(s, asio::buffer(resp), oidc::net::use_nothrow_awaitable);
            (void)n3;
            if (ec3)
                co_return;
        }
    }

    static asio::awaitable<void> connection(asio::ip::tcp::socket sock, std::shared_ptr<state> st) {
        ++st->connections;
        if (st->tls) {
            asio::ssl::stream<asio::ip::tcp::socket> ss(std::move(sock), *st->tls);
            auto [ec] = co_await ss.async_handshake(asio::ssl::stream_base::server,
                                                    oidc::net::use_nothrow_awaitable);
            if (!ec)
                co_await serve(ss, st);
        } else {
            co_await serve(sock, st);
        }
    }

    static asio::awaitable<void> accept_loop(std::shared_ptr<asio::ip::tcp::acceptor> acc,
                                             std::shared_ptr<state> st) {
        for (;;) {
            auto [ec, sock] = co_await acc->async_accept(oidc::net::use_nothrow_awaitable);
            if (ec)
                co_return;
            asio::co_spawn(acc->get_executor(), connection(std::move(sock), st), asio::detached);
        }
    }

    std::shared_ptr<asio::ip::tcp::acceptor> acc_;
    std::shared_ptr<state> st_;
    unsigned short port_ = 0;
};

} // namespace oidc_test
