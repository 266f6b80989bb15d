// asio-oidc: one HTTP/1.1 connection (plain TCP or TLS) with per-operation timeouts.
// The I/O driver under oidc::http::client; knows nothing of OAuth.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/error.hpp>
#include <oidc/http/message.hpp>
#include <oidc/http/parser.hpp>
#include <oidc/http/url.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/bind_executor.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

namespace oidc::http {

/// Per-operation time limits. `read` bounds each wait for bytes (a slow but steady
/// server is not cut off); the others bound the whole step.
struct timeouts {
    std::chrono::milliseconds resolve{5000};
    std::chrono::milliseconds connect{5000};
    std::chrono::milliseconds handshake{5000};
    std::chrono::milliseconds write{10000};
    std::chrono::milliseconds read{10000};
};

namespace detail {

/// Maps an X509 verification result (SSL_get_verify_result) to an oidc::errc.
inline std::error_code map_verify_result(long result) noexcept {
    switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return errc::tls_host_name_mismatch;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return errc::tls_certificate_expired;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return errc::tls_certificate_untrusted;
    default:
        return errc::tls_certificate_invalid;
    }
}

/// The peer closed or reset the connection (or the TLS stream ended without close_notify).
inline bool is_peer_closed(const std::error_code& ec) noexcept {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
           ec == asio::ssl::error::stream_truncated;
}

/// A TLS client context with the library's defaults: TLS 1.2 minimum, peer verification
/// against the system trust store, plus `ca_file` (PEM) when not empty. Throws
/// std::system_error when the trust store or the CA file cannot be loaded.
inline std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& ca_file) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                     asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                     asio::ssl::context::no_compression);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_verify_mode(asio::ssl::verify_peer);
    ctx->set_default_verify_paths();
    if (!ca_file.empty())
        ctx->load_verify_file(ca_file);
    return ctx;
}

} // namespace detail

/// One HTTP/1.1 connection to one origin, over TCP or TLS (optionally tunnelled through an
/// HTTP proxy with CONNECT), with a timeout on every step.
///
/// Not thread safe: one operation at a time, awaited from one coroutine whose executor
/// serializes its handlers (the client runs each request on its own strand). Timeouts
/// complete the pending step with errc::timed_out; a connection that timed out, was
/// cancelled or saw an error must be closed, never reused.
class connection : public std::enable_shared_from_this<connection> {
public:
    using executor_type = asio::any_io_executor;
    using clock = std::chrono::steady_clock;
    using socket_type = asio::ip::tcp::socket;
    using tls_stream_type = asio::ssl::stream<socket_type>;

    /// `tls` null: plain TCP. Otherwise TLS with this context (peer and host name
    /// verification are forced on for the stream whatever the context says).
    connection(executor_type ex, std::shared_ptr<asio::ssl::context> tls)
        : ex_(std::move(ex)), tls_ctx_(std::move(tls)), socket_(ex_), timer_(ex_),
          buffer_(new char[buffer_size]) {}

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() { close(); }

    executor_type get_executor() const { return ex_; }
    bool is_tls() const noexcept { return tls_ctx_ != nullptr; }
    bool is_open() const noexcept { return lowest().is_open(); }
    /// The last step ended because its timeout expired.
    bool timed_out() const noexcept { return timed_out_; }

    /// Resolves `target.host`, connects (through `proxy` with CONNECT when given), and does
    /// the TLS handshake with SNI and host name verification when the connection is TLS.
    asio::awaitable<std::error_code> connect(const url& target, const url* proxy,
                                             const timeouts& t) {
        const url& hop = proxy ? *proxy : target;
        auto ex = co_await asio::this_coro::executor;
        std::error_code ec = co_await tcp_connect(hop, t, ex);
        if (ec)
            co_return ec;
        if (proxy) {
            ec = co_await proxy_connect(target, t, ex);
            if (ec)
                co_return ec;
        }
        if (tls_ctx_)
            ec = co_await tls_handshake(target, t, ex);
        co_return ec;
    }

    /// Writes all of `data`, within `timeout`.
    asio::awaitable<std::error_code> write(std::string_view data,
                                           std::chrono::milliseconds timeout) {
        auto ex = co_await asio::this_coro::executor;
        arm(timeout, ex);
        std::error_code ec;
        std::size_t n = 0;
        if (tls_)
            std::tie(ec, n) =
                co_await asio::async_write(*tls_, asio::buffer(data), net::use_nothrow_awaitable);
        else
            std::tie(ec, n) =
                co_await asio::async_write(socket_, asio::buffer(data), net::use_nothrow_awaitable);
        disarm();
        co_return fix(ec);
    }

    /// Reads one response into `parser` (already reset by the caller), each read within
    /// `timeout`. `any_bytes` tells whether anything of the response arrived: a peer that
    /// closes before the first byte completes with the raw socket error (eof, reset, ...)
    /// so the caller can retry a stale keep-alive connection; later the parser decides
    /// (errc::http_truncated and friends).
    asio::awaitable<std::error_code>
    read_response(response_parser& parser, std::chrono::milliseconds timeout, bool& any_bytes) {
        any_bytes = false;
        leftover_ = false;
        auto ex = co_await asio::this_coro::executor;
        std::error_code ec;
        while (!parser.done()) {
            arm(timeout, ex);
            std::size_t n = 0;
            if (tls_)
                std::tie(ec, n) = co_await tls_->async_read_some(
                    asio::buffer(buffer_.get(), buffer_size), net::use_nothrow_awaitable);
            else
                std::tie(ec, n) = co_await socket_.async_read_some(
                    asio::buffer(buffer_.get(), buffer_size), net::use_nothrow_awaitable);
            disarm();
            if (n > 0) {
                any_bytes = true;
                std::error_code pec;
                std::size_t used = parser.feed(std::string_view(buffer_.get(), n), pec);
                if (pec)
                    co_return pec;
                if (parser.done() && used < n)
                    leftover_ = true; // bytes after the response: never reuse
            }
            if (ec) {
                if (parser.done())
                    break;
                ec = fix(ec);
                if (ec == asio::error::eof && any_bytes) {
                    // A clean close ends a close-delimited body; the parser decides.
                    std::error_code pec;
                    parser.feed_eof(pec);
                    if (pec)
                        co_return pec;
                    if (!parser.done())
                        co_return make_error_code(errc::http_truncated);
                    peer_closed_ = true;
                    break;
                }
                if (detail::is_peer_closed(ec) && any_bytes)
                    co_return make_error_code(errc::http_truncated);
                co_return ec;
            }
        }
        co_return std::error_code{};
    }

    /// After a complete response: may the connection carry another request?
    bool reusable(const response_parser& parser) const noexcept {
        return parser.done() && parser.keep_alive() && !leftover_ && !peer_closed_ && !timed_out_ &&
               is_open();
    }

    /// A cheap liveness probe for an idle pooled connection: false when the peer has
    /// closed it or sent unsolicited bytes (both make it unusable).
    bool idle_alive() noexcept {
        if (!is_open())
            return false;
        char c;
        ssize_t r = ::recv(lowest().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    /// Makes sure no timeout handler is pending, so that the connection may move to
    /// another strand. False when a handler is already queued: then drop the connection.
    bool quiesce() noexcept {
        if (!timer_armed_)
            return true;
        if (timer_.cancel() > 0) {
            timer_armed_ = false; // the aborted handler touches nothing
            return true;
        }
        return false;
    }

    /// Closes the socket without a TLS close_notify (the peer sees a TCP close).
    void close() noexcept {
        quiesce();
        std::error_code ignored;
        if (resolver_)
            resolver_->cancel();
        auto& s = lowest();
        if (s.is_open()) {
            s.shutdown(socket_type::shutdown_both, ignored);
            s.close(ignored);
        }
    }

    /// When this connection went idle in a pool.
    clock::time_point idle_since{};

private:
    static constexpr std::size_t buffer_size = 16 * 1024;

    socket_type& lowest() noexcept { return tls_ ? tls_->next_layer() : socket_; }
    const socket_type& lowest() const noexcept { return tls_ ? tls_->next_layer() : socket_; }

    // ---- timeouts: one lazily re-armed timer per connection ----
    // arm() sets a deadline; the timer fires at most once per period and re-arms itself
    // when the deadline moved, so a busy keep-alive connection costs no timer syscalls
    // per request. The handler runs on the strand of the coroutine that armed it.
    void arm(std::chrono::milliseconds d, const executor_type& ex) {
        timed_out_ = false;
        deadline_ = clock::now() + d;
        if (!timer_armed_) {
            timer_armed_ = true;
            start_timer(ex);
        } else if (deadline_ < timer_.expiry() && timer_.expires_at(deadline_) > 0) {
            // A shorter step than the pending wait: that wait completes as aborted (its
            // handler touches nothing) and a new one starts. When expires_at() cancelled
            // nothing, the handler is already queued and re-arms itself to deadline_.
            start_timer(ex);
        }
    }
    void disarm() noexcept { deadline_ = clock::time_point::max(); }

    void start_timer(const executor_type& ex) {
        timer_.expires_at(deadline_);
        timer_.async_wait(asio::bind_executor(
            ex, [self = shared_from_this(), ex](std::error_code ec) { self->on_timer(ec, ex); }));
    }

    void on_timer(std::error_code ec, const executor_type& ex) {
        if (ec)
            return; // cancelled by quiesce(): this object may already serve another strand
        timer_armed_ = false;
        if (deadline_ == clock::time_point::max())
            return; // no step pending; the next arm() starts the timer again
        if (clock::now() >= deadline_) {
            timed_out_ = true;
            std::error_code ignored;
            if (resolver_)
                resolver_->cancel();
            lowest().cancel(ignored);
            return;
        }
        timer_armed_ = true;
        start_timer(ex);
    }

    /// operation_aborted caused by our own timer becomes timed_out.
    std::error_code fix(std::error_code ec) const noexcept {
        if (ec && timed_out_)
            return make_error_code(errc::timed_out);
        return ec;
    }

    asio::awaitable<std::error_code> tcp_connect(const url& hop, const timeouts& t,
                                                 const executor_type& ex) {
        std::error_code ec;
        auto addr = asio::ip::make_address(hop.host, ec);
        if (!ec) {
            arm(t.connect, ex);
            asio::ip::tcp::endpoint ep(addr, hop.port);
            std::tie(ec) = co_await socket_.async_connect(ep, net::use_nothrow_awaitable);
            disarm();
        } else {
            resolver_.emplace(ex_);
            arm(t.resolve, ex);
            asio::ip::tcp::resolver::results_type results;
            std::tie(ec, results) = co_await resolver_->async_resolve(
                hop.host, std::to_string(hop.port), net::use_nothrow_awaitable);
            disarm();
            if (ec)
                co_return fix(ec);
            arm(t.connect, ex);
            asio::ip::tcp::endpoint ep;
            std::tie(ec, ep) =
                co_await asio::async_connect(socket_, results, net::use_nothrow_awaitable);
            disarm();
        }
        if (ec)
            co_return fix(ec);
        std::error_code ignored;
        socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
        co_return std::error_code{};
    }

    // HTTP CONNECT through a proxy (RFC 9110 9.3.6): a 2xx answer opens the tunnel.
    asio::awaitable<std::error_code> proxy_connect(const url& target, const timeouts& t,
                                                   const executor_type& ex) {
        std::string authority = target.ipv6_literal() ? "[" + target.host + "]" : target.host;
        authority += ':';
        authority += std::to_string(target.port);
        std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
        arm(t.write, ex);
        auto [ec, n] =
            co_await asio::async_write(socket_, asio::buffer(req), net::use_nothrow_awaitable);
        disarm();
        if (ec)
            co_return fix(ec);
        response_parser parser(parser_limits{16 * 1024, 64, 0});
        parser.reset(true); // a 2xx answer to CONNECT has no body
        while (!parser.done()) {
            // The proxy sends nothing after its answer until we speak (TLS client hello
            // first), so any byte past the answer is a protocol violation.
            arm(t.read, ex);
            std::size_t got = 0;
            std::tie(ec, got) = co_await socket_.async_read_some(
                asio::buffer(buffer_.get(), buffer_size), net::use_nothrow_awaitable);
            disarm();
            if (got > 0) {
                std::error_code pec;
                std::size_t used = parser.feed(std::string_view(buffer_.get(), got), pec);
                if (pec || (parser.done() && used < got))
                    co_return make_error_code(errc::proxy_connect_failed);
            }
            if (ec && !parser.done())
                co_return timed_out_ ? make_error_code(errc::timed_out)
                                     : make_error_code(errc::proxy_connect_failed);
        }
        int status = parser.get().status;
        if (status < 200 || status > 299)
            co_return make_error_code(errc::proxy_connect_failed);
        co_return std::error_code{};
    }

    asio::awaitable<std::error_code> tls_handshake(const url& target, const timeouts& t,
                                                   const executor_type& ex) {
        tls_.emplace(std::move(socket_), *tls_ctx_);
        SSL* ssl = tls_->native_handle();
        tls_->set_verify_mode(asio::ssl::verify_peer);
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        std::error_code not_ip;
        (void)asio::ip::make_address(target.host, not_ip);
        if (!not_ip) {
            // An IP literal: no SNI (RFC 6066 3), match an iPAddress subjectAltName.
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), target.host.c_str()) != 1)
                co_return make_error_code(errc::url_invalid);
        } else {
            if (SSL_set_tlsext_host_name(ssl, target.host.c_str()) != 1 ||
                SSL_set1_host(ssl, target.host.c_str()) != 1)
                co_return make_error_code(errc::url_invalid);
        }
        arm(t.handshake, ex);
        auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client,
                                                   net::use_nothrow_awaitable);
        disarm();
        if (ec) {
            long vr = SSL_get_verify_result(ssl);
            if (vr != X509_V_OK && !timed_out_)
                co_return detail::map_verify_result(vr);
            co_return fix(ec);
        }
        co_return std::error_code{};
    }

    executor_type ex_;
    std::shared_ptr<asio::ssl::context> tls_ctx_;
    socket_type socket_;                 // until the TLS stream takes it over
    std::optional<tls_stream_type> tls_; // engaged after connect() on TLS connections
    std::optional<asio::ip::tcp::resolver> resolver_;
    asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    bool timer_armed_ = false;
    bool timed_out_ = false;
    bool leftover_ = false;
    bool peer_closed_ = false;
    std::unique_ptr<char[]> buffer_;
};

} // namespace oidc::http
