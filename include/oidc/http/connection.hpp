// asio-oidc: one HTTP/1.1 connection (plain TCP or TLS) with per-operation timeouts.
// The I/O driver under oidc::http::client; knows nothing of OAuth.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/error.hpp>
#include <oidc/http/message.hpp>
#include <oidc/http/parser.hpp>
#include <oidc/http/resolve.hpp>
#include <oidc/http/url.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_executor.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace oidc::http {

/// Per-operation time limits. `read` bounds each wait for bytes (a slow but steady
/// server is not cut off by it) and `response` the whole response; the others bound the
/// whole step.
struct timeouts {
    /// Name resolution (getaddrinfo on a thread of its own, detail::start_resolve). The
    /// request ends on time; getaddrinfo itself cannot be interrupted and runs on until the
    /// system resolver gives up, its answer dropped (io_context::run() does not wait for it).
    std::chrono::milliseconds resolve{5000};
    std::chrono::milliseconds connect{5000};
    std::chrono::milliseconds handshake{5000};
    std::chrono::milliseconds write{10000};
    std::chrono::milliseconds read{10000};
    /// The whole response, from the end of the request's write to its last byte: a server
    /// that trickles bytes just fast enough for `read` is cut off here.
    std::chrono::milliseconds response{60000};
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

/// The verify callback of every TLS connection: OpenSSL's verdict, and the context's own
/// callback (when the caller's context has one) may only narrow it - a callback that
/// returns 1 for a certificate OpenSSL refused does not make it accepted.
inline int strict_verify(int preverify_ok, X509_STORE_CTX* store) {
    int ok = preverify_ok;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (ssl)
        if (auto user = SSL_CTX_get_verify_callback(SSL_get_SSL_CTX(ssl)))
            ok = user(preverify_ok, store);
    if (preverify_ok && !ok && X509_STORE_CTX_get_error(store) == X509_V_OK)
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return preverify_ok && ok ? 1 : 0;
}

/// A socket BIO that never raises SIGPIPE (send with MSG_NOSIGNAL): OpenSSL's own socket
/// BIO writes with write(2). The descriptor is non-blocking; EAGAIN becomes a retry.
inline int nosig_bio_write(BIO* b, const char* data, int len) {
    BIO_clear_retry_flags(b);
    int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b)));
    ssize_t r = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return static_cast<int>(r);
}
inline int nosig_bio_read(BIO* b, char* data, int len) {
    BIO_clear_retry_flags(b);
    int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b)));
    ssize_t r = ::recv(fd, data, static_cast<std::size_t>(len), 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    return static_cast<int>(r);
}
inline int nosig_bio_puts(BIO* b, const char* str) {
    return nosig_bio_write(b, str, static_cast<int>(std::strlen(str)));
}
inline long nosig_bio_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}
inline int nosig_bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}
inline BIO_METHOD* nosig_bio_method() {
    static BIO_METHOD* const method = [] {
        BIO_METHOD* m =
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "oidc nosigpipe socket");
        if (m) {
            BIO_meth_set_write(m, &nosig_bio_write);
            BIO_meth_set_read(m, &nosig_bio_read);
            BIO_meth_set_puts(m, &nosig_bio_puts);
            BIO_meth_set_ctrl(m, &nosig_bio_ctrl);
            BIO_meth_set_create(m, &nosig_bio_create);
        }
        return m;
    }();
    return method;
}

/// Empties this thread's OpenSSL error queue before an SSL call (SSL_get_error reads it):
/// a look first, much cheaper than ERR_clear_error's sweep of every slot when the queue
/// is already empty, as it nearly always is (errors are cleared where they are handled).
inline void clear_tls_errors() noexcept {
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

struct ssl_free {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

/// A TLS session shared between connections of one origin (resumption).
using tls_session_ptr = std::shared_ptr<SSL_SESSION>;

/// A copy of `s` for a cache (the connection's own object is spoiled when it closes).
inline tls_session_ptr copy_session(const SSL_SESSION* s) {
    SSL_SESSION* copy = s ? SSL_SESSION_dup(s) : nullptr;
    if (!copy)
        return nullptr;
    return tls_session_ptr(copy, [](SSL_SESSION* p) { SSL_SESSION_free(p); });
}

} // namespace detail

/// One HTTP/1.1 connection to one origin, over TCP or TLS (optionally tunnelled through an
/// HTTP proxy with CONNECT), with a timeout on every step.
///
/// One operation at a time, awaited from one coroutine (any executor: the coroutine may
/// resume on any thread of the context). The timeout timer runs on the connection's
/// executor and shares only mutex-guarded state with the operations, so no strand is
/// needed. Timeouts complete the pending step with errc::timed_out; a connection that timed
/// out, was cancelled or saw an error must be closed, never reused.
class connection : public std::enable_shared_from_this<connection> {
public:
    using executor_type = asio::any_io_executor;
    using clock = std::chrono::steady_clock;
    using socket_type = asio::ip::tcp::socket;
    using endpoint_type = asio::ip::tcp::endpoint;

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
    bool timed_out() const noexcept { return timed_out_.load(std::memory_order_acquire); }

    /// TLS: a session of an earlier connection to the same origin, offered for resumption
    /// by the next connect() (the server may refuse it: then a full handshake happens).
    void set_resume_session(detail::tls_session_ptr s) noexcept { resume_ = std::move(s); }
    /// TLS: the handshake resumed a session (no certificate exchange).
    bool session_reused() const noexcept { return ssl_ && SSL_session_reused(ssl_.get()) == 1; }
    /// TLS: this connection's session once it can be resumed, the first time only (a
    /// TLS 1.3 ticket arrives after the handshake, so this is asked after each response).
    detail::tls_session_ptr take_resumable_session() {
        if (!ssl_ || session_taken_)
            return nullptr;
        SSL_SESSION* s = SSL_get0_session(ssl_.get());
        if (!s || SSL_SESSION_is_resumable(s) != 1)
            return nullptr;
        session_taken_ = true;
        return detail::copy_session(s);
    }

    /// The buffer a request is serialized into, kept with the connection so that a pooled
    /// connection writes without allocating.
    std::string& wire_buffer() noexcept { return wire_; }

    /// The response parser of this connection's requests (reused: its line buffer stays
    /// with the connection, and the request's coroutine frame stays small).
    response_parser& parser() noexcept { return parser_; }

    /// Resolves `target.host`, connects (through `proxy` with CONNECT when given), and does
    /// the TLS handshake with SNI and host name verification when the connection is TLS.
    OIDC_CORO asio::awaitable<std::error_code> connect(const url& target, const url* proxy,
                                                       const timeouts& t) {
        const url& hop = proxy ? *proxy : target;
        std::error_code ec = co_await tcp_connect(hop, t);
        if (ec)
            co_return ec;
        if (proxy) {
            ec = co_await proxy_connect(target, t);
            if (ec)
                co_return ec;
        }
        if (tls_ctx_)
            ec = co_await tls_handshake(target, t);
        co_return ec;
    }

    // ---- one request: non-blocking steps first, a coroutine only when a wait is needed ----
    // A keep-alive request usually completes without any wait: the request fits in the
    // socket buffer, and the response is often there by the time the write returns (the
    // server ran while the client was in send()). send_impl calls the *_now() steps and
    // awaits the coroutines only for what is left, so such a request costs no coroutine
    // frame, no reactor registration and no timer work.

    /// Writes as much of `data` as the socket takes now; `data` keeps the rest.
    std::error_code write_now(std::string_view& data) {
        while (!data.empty()) {
            std::size_t n = 0;
            want w = want::none;
            std::error_code ec = write_some(data, n, w);
            if (ec)
                return fix(ec);
            data.remove_prefix(n);
            if (w != want::none)
                break;
        }
        return {};
    }

    /// Writes all of `data`, within `timeout` for the whole step.
    OIDC_CORO asio::awaitable<std::error_code> write(std::string_view data,
                                                     std::chrono::milliseconds timeout) {
        arm(timeout);
        std::error_code ec;
        while (!data.empty()) {
            std::size_t n = 0;
            want w = want::none;
            ec = write_some(data, n, w);
            if (ec)
                break;
            data.remove_prefix(n);
            if (w != want::none && (ec = co_await wait(w)))
                break;
        }
        disarm();
        co_return fix(ec);
    }

    /// Starts reading a response into `parser` (already reset by the caller) without
    /// waiting: `done` when it is complete. Reads only when bytes are likely there: TLS
    /// holds some, or a read right after the request found the response on this
    /// connection lately (a connection whose server answers later stops trying, and
    /// tries again now and then). The steps below go on where this stopped.
    std::error_code read_response_now(response_parser& parser, bool& any_bytes, bool& done) {
        any_bytes = false;
        leftover_ = false;
        done = false;
        next_want_ = want::read;
        const bool pending = ssl_ && SSL_has_pending(ssl_.get());
        if (!pending && !speculate())
            return {};
        want w = want::none;
        std::error_code ec = read_step(parser, any_bytes, w);
        next_want_ = w == want::write ? want::write : want::read;
        if (!pending) {
            if (any_bytes)
                spec_misses_ = 0;
            else if (spec_misses_ < 255)
                ++spec_misses_;
        }
        done = !ec && w == want::none;
        return ec;
    }

    /// After a write that the peer cut short (reset, broken pipe): reads, without waiting,
    /// the answer it may have sent before it closed (an early 413 or 401, RFC 9112 9.5).
    /// True when a whole response was there; the connection is never reused then.
    bool read_early_response(response_parser& parser, bool& any_bytes) {
        leftover_ = false;
        want w = want::none;
        if (read_step(parser, any_bytes, w) || w != want::none)
            return false;
        peer_closed_ = true;
        return true;
    }

    // The rest of the response, when read_response_now() did not complete it, is read in
    // steps by a caller that awaits in its own coroutine frame (one frame less per waiting
    // request; Asio recycles only two frames per thread):
    //   arm_read(t); auto [e] = co_await async_wait_ready(); ec = read_after_wait(e, ...);
    // repeated while !done. `any_bytes` tells whether anything of the response arrived: a
    // peer that closes before the first byte completes with the raw socket error (eof,
    // reset, ...) so the caller can retry a stale keep-alive connection; later the parser
    // decides (errc::http_truncated and friends).

    /// Starts the time limit of one wait for response bytes.
    void arm_read(std::chrono::milliseconds timeout) { arm(timeout); }
    /// Waits until the socket is ready for what the read needs (as_tuple awaitable).
    auto async_wait_ready() {
        return socket_.async_wait(next_want_ == want::read ? socket_type::wait_read
                                                           : socket_type::wait_write,
                                  net::use_nothrow_awaitable);
    }
    /// After async_wait_ready(): reads and parses what is there; `done` when complete.
    std::error_code read_after_wait(std::error_code wait_error, response_parser& parser,
                                    bool& any_bytes, bool& done) {
        disarm();
        done = false;
        if (wait_error)
            return fix(wait_error);
        want next = want::none;
        std::error_code ec = read_step(parser, any_bytes, next); // want::write: TLS writes first
        next_want_ = next == want::write ? want::write : want::read;
        done = !ec && next == want::none;
        return ec;
    }

    /// After a complete response: may the connection carry another request?
    bool reusable(const response_parser& parser) const noexcept {
        return parser.done() && parser.keep_alive() && !leftover_ && !peer_closed_ &&
               !timed_out() && is_open();
    }

    /// Bytes handed to the socket so far (TLS: record bytes, as the kernel took them):
    /// tells whether any byte of a request reached the socket before a write failed.
    std::uint64_t bytes_written() const noexcept {
        if (ssl_)
            if (BIO* b = SSL_get_wbio(ssl_.get()))
                return BIO_number_written(b);
        return plain_written_;
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

    /// Stops the timeout timer of a connection going idle, so that an idle pooled
    /// connection holds no pending operation (io_context::run() returns when the requests
    /// are done). A timer handler already queued finds a newer generation and does nothing.
    void park() noexcept {
        std::lock_guard<std::mutex> lock(timer_mu_);
        park_locked();
    }

    /// park() from a handler posted to the connection's executor, unless a step started in
    /// the meantime: a connection taken again at once from the pool (the next request of
    /// a keep-alive loop) keeps its armed timer, and no timer syscall happens per request.
    void park_soon() {
        std::uint64_t steps;
        {
            std::lock_guard<std::mutex> lock(timer_mu_);
            deadline_ = clock::time_point::max();
            if (!timer_armed_)
                return;
            steps = steps_;
        }
        asio::post(ex_, [w = weak_from_this(), steps] {
            if (auto self = w.lock()) {
                std::lock_guard<std::mutex> lock(self->timer_mu_);
                if (self->steps_ == steps && self->deadline_ == clock::time_point::max())
                    self->park_locked();
            }
        });
    }

    /// Closes the socket without a TLS close_notify (the peer sees a TCP close).
    void close() noexcept {
        std::lock_guard<std::mutex> lock(timer_mu_);
        park_locked();
        std::error_code ignored;
        if (auto r = resolving_.lock())
            r->abort();
        auto& s = lowest();
        if (s.is_open()) {
            s.shutdown(socket_type::shutdown_both, ignored);
            s.close(ignored);
        }
    }

    /// When this connection went idle in a pool.
    clock::time_point idle_since{};
    /// The pool key of the connection's origin (url::origin()).
    std::string origin;

private:
    static constexpr std::size_t buffer_size = 16 * 1024;

    socket_type& lowest() noexcept { return socket_; }
    const socket_type& lowest() const noexcept { return socket_; }

    // ---- I/O: non-blocking attempts first, then a readiness wait ----
    // TLS runs OpenSSL straight on the descriptor (no BIO pair, no copies, no handler per
    // record); plain TCP uses the socket's non-blocking calls. A step's result is either
    // bytes, an error, or what to wait for before trying again.
    enum class want : std::uint8_t { none, read, write };

    OIDC_CORO asio::awaitable<std::error_code> wait(want w) {
        auto [ec] = co_await socket_.async_wait(w == want::read ? socket_type::wait_read
                                                                : socket_type::wait_write,
                                                net::use_nothrow_awaitable);
        co_return ec;
    }

    std::error_code write_some(std::string_view data, std::size_t& n, want& w) {
        if (ssl_) {
            detail::clear_tls_errors();
            errno = 0;
            int r = SSL_write_ex(ssl_.get(), data.data(), data.size(), &n);
            return r == 1 ? std::error_code{} : tls_error(r, w);
        }
        std::error_code ec;
        n = socket_.write_some(asio::buffer(data), ec);
        plain_written_ += n;
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            w = want::write;
            return {};
        }
        return ec;
    }

    std::error_code read_some(std::size_t& n, want& w) {
        n = 0;
        if (ssl_) {
            detail::clear_tls_errors();
            errno = 0;
            int r = SSL_read_ex(ssl_.get(), buffer_.get(), buffer_size, &n);
            return r == 1 ? std::error_code{} : tls_error(r, w);
        }
        std::error_code ec;
        n = socket_.read_some(asio::buffer(buffer_.get(), buffer_size), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            w = want::read;
            return {};
        }
        return ec;
    }

    /// Reads and parses what is there without waiting. Sets `w` to what to wait for, or
    /// want::none when the response is complete.
    std::error_code read_step(response_parser& parser, bool& any_bytes, want& w) {
        for (;;) {
            std::size_t n = 0;
            w = want::none;
            std::error_code ec = read_some(n, w);
            if (n > 0) {
                any_bytes = true;
                std::error_code pec;
                std::size_t used = parser.feed(std::string_view(buffer_.get(), n), pec);
                if (pec)
                    return pec;
                if (parser.done()) {
                    if (used < n || (ssl_ && SSL_has_pending(ssl_.get())))
                        leftover_ = true; // bytes after the response: never reuse
                    w = want::none;
                    return {};
                }
            }
            if (ec) {
                ec = fix(ec);
                if (ec == asio::error::eof && any_bytes) {
                    // A clean close ends a close-delimited body; the parser decides.
                    std::error_code pec;
                    parser.feed_eof(pec);
                    if (pec)
                        return pec;
                    if (!parser.done())
                        return make_error_code(errc::http_truncated);
                    peer_closed_ = true;
                    w = want::none;
                    return {};
                }
                if (detail::is_peer_closed(ec) && any_bytes)
                    return make_error_code(errc::http_truncated);
                return ec;
            }
            if (w != want::none)
                return {};
        }
    }

    /// Whether read_response_now() reads right after the request: while it found bytes
    /// lately, and then on one request in 16.
    bool speculate() noexcept { return spec_misses_ < 2 || (++spec_skips_ & 15u) == 0; }

    /// Maps a failed OpenSSL call: a wait, or an error as Asio's SSL stream reports it
    /// (eof after close_notify, ssl::error::stream_truncated for an EOF without it, socket
    /// errors in the system category, other failures in Asio's SSL category).
    std::error_code tls_error(int r, want& w) {
        const int saved_errno = errno;
        switch (SSL_get_error(ssl_.get(), r)) {
        case SSL_ERROR_WANT_READ:
            w = want::read;
            return {};
        case SSL_ERROR_WANT_WRITE:
            w = want::write;
            return {};
        case SSL_ERROR_ZERO_RETURN:
            return asio::error::eof;
        case SSL_ERROR_SYSCALL:
            if (saved_errno != 0) { // the socket's error: reset, broken pipe, ...
                ERR_clear_error();
                return std::error_code(saved_errno, asio::error::get_system_category());
            }
            if (unsigned long code = ERR_get_error()) {
                ERR_clear_error();
                return std::error_code(static_cast<int>(code), asio::error::get_ssl_category());
            }
            return asio::ssl::error::stream_truncated; // EOF without close_notify
        default: {
            unsigned long code = ERR_get_error();
            ERR_clear_error();
            if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
                return asio::ssl::error::stream_truncated;
            if (code == 0)
                return asio::error::fault;
            return std::error_code(static_cast<int>(code), asio::error::get_ssl_category());
        }
        }
    }

    // ---- timeouts: one lazily re-armed timer per connection ----
    // arm() sets a deadline; the pending wait is moved only when the new deadline is
    // earlier than the armed expiry, so consecutive steps of a busy connection cost no
    // timer syscall: an expired wait whose deadline moved later re-arms itself. The handler
    // runs on the connection's executor, possibly on another thread than the operation:
    // the timer, the deadline and the abort are guarded by timer_mu_, and the handler holds
    // only a weak reference (a dropped connection closes at once). On expiry the socket is
    // shut down as well as cancelled, so an operation started just after the deadline fails
    // too (the timed_out_ flag maps its error to errc::timed_out).
    void arm(std::chrono::milliseconds d) {
        std::lock_guard<std::mutex> lock(timer_mu_);
        ++steps_;
        deadline_ = clock::now() + d;
        if (!timer_armed_ || deadline_ < timer_expiry_)
            start_timer_locked();
    }
    void disarm() noexcept {
        std::lock_guard<std::mutex> lock(timer_mu_);
        deadline_ = clock::time_point::max();
    }

    void start_timer_locked() {
        timer_armed_ = true;
        timer_expiry_ = deadline_;
        const std::uint64_t gen = ++timer_gen_;
        timer_.expires_at(deadline_); // a pending wait completes as aborted (stale generation)
        timer_.async_wait([w = weak_from_this(), gen](std::error_code) {
            if (auto self = w.lock())
                self->on_timer(gen);
        });
    }

    void park_locked() noexcept {
        deadline_ = clock::time_point::max();
        if (timer_armed_) {
            timer_armed_ = false;
            ++timer_gen_;
            timer_.cancel();
        }
    }

    void on_timer(std::uint64_t gen) {
        std::lock_guard<std::mutex> lock(timer_mu_);
        if (gen != timer_gen_)
            return; // cancelled or superseded
        timer_armed_ = false;
        if (deadline_ == clock::time_point::max())
            return; // no step pending; the next arm() starts the timer again
        if (clock::now() < deadline_) {
            start_timer_locked();
            return;
        }
        timed_out_.store(true, std::memory_order_release);
        std::error_code ignored;
        if (auto r = resolving_.lock())
            r->abort();
        auto& s = lowest();
        if (s.is_open()) {
            s.cancel(ignored);
            ::shutdown(s.native_handle(), SHUT_RDWR);
        }
    }

    /// operation_aborted caused by our own timer becomes timed_out.
    std::error_code fix(std::error_code ec) const noexcept {
        if (ec && timed_out())
            return make_error_code(errc::timed_out);
        return ec;
    }

    OIDC_CORO asio::awaitable<std::error_code> tcp_connect(const url& hop, const timeouts& t) {
        std::error_code ec;
        auto addr = asio::ip::make_address(hop.host, ec);
        std::vector<endpoint_type> endpoints;
        if (!ec) {
            endpoints.emplace_back(addr, hop.port);
        } else {
            arm(t.resolve);
            // Ends at the timeout, close() or cancellation even while getaddrinfo still runs
            // (detail::start_resolve: a thread per lookup, so no lookup waits for another).
            // Started and registered under the timer's mutex, which on_timer() holds: the
            // answer may resume this coroutine on another thread at once, and it takes the
            // mutex before it goes on (this lambda touches nothing after the unlock).
            auto [rec, results] =
                co_await asio::async_initiate<const decltype(net::use_nothrow_awaitable)&,
                                              void(std::error_code, std::vector<endpoint_type>)>(
                    [this](auto handler, std::string host, std::string port) {
                        std::lock_guard<std::mutex> lock(timer_mu_);
                        auto op = detail::start_resolve(ex_, std::move(host), std::move(port),
                                                        std::move(handler));
                        resolving_ = op;
                        if (timed_out())
                            op->abort();
                    },
                    net::use_nothrow_awaitable, hop.host, std::to_string(hop.port));
            {
                std::lock_guard<std::mutex> lock(timer_mu_);
                resolving_.reset();
            }
            disarm();
            if (rec || timed_out())
                co_return fix(rec ? rec : asio::error_code(asio::error::operation_aborted));
            endpoints = std::move(results);
        }
        co_return co_await connect_endpoints(std::move(endpoints), t.connect);
    }

public:
    /// Connects the socket to the first of `endpoints` that accepts, within `timeout` for
    /// all of them. Between two attempts the socket is closed and opened again under the
    /// timer's mutex, so a timeout handler running on another thread never sees it
    /// half-replaced; a timeout that fires between two attempts ends the step.
    OIDC_CORO asio::awaitable<std::error_code>
    connect_endpoints(std::vector<endpoint_type> endpoints, std::chrono::milliseconds timeout) {
        std::error_code ec = asio::error::host_not_found;
        bool armed = false;
        for (const auto& ep : endpoints) {
            {
                std::lock_guard<std::mutex> lock(timer_mu_);
                if (timed_out())
                    break;
                std::error_code ignored;
                if (socket_.is_open())
                    socket_.close(ignored);
                socket_.open(ep.protocol(), ec);
            }
            if (ec)
                continue;
            if (!armed) {
                arm(timeout); // after open(): the timer may read the socket
                armed = true;
            }
            std::tie(ec) = co_await socket_.async_connect(ep, net::use_nothrow_awaitable);
            // A cancellation or close() ends the step: the next address is not tried.
            if (!ec || timed_out() || ec == asio::error::operation_aborted)
                break;
        }
        if (armed)
            disarm();
        if (timed_out())
            co_return make_error_code(errc::timed_out);
        if (ec)
            co_return ec;
        std::error_code ignored;
        socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
        socket_.non_blocking(true, ec); // reads and writes try first, then wait
        co_return ec;
    }

private:
    // HTTP CONNECT through a proxy (RFC 9110 9.3.6): a 2xx answer opens the tunnel.
    OIDC_CORO asio::awaitable<std::error_code> proxy_connect(const url& target, const timeouts& t) {
        std::string authority = target.ipv6_literal() ? "[" + target.host + "]" : target.host;
        authority += ':';
        authority += std::to_string(target.port);
        std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
        arm(t.write);
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
            arm(t.read);
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
            if (ec && !parser.done()) {
                if (timed_out() || ec == asio::error::operation_aborted)
                    co_return fix(ec); // timed_out, or the caller's cancellation
                co_return make_error_code(errc::proxy_connect_failed);
            }
        }
        int status = parser.get().status;
        if (status < 200 || status > 299)
            co_return make_error_code(errc::proxy_connect_failed);
        co_return std::error_code{};
    }

    OIDC_CORO asio::awaitable<std::error_code> tls_handshake(const url& target, const timeouts& t) {
        std::error_code ec;
        socket_.non_blocking(true, ec);
        if (ec)
            co_return ec;
        ssl_.reset(SSL_new(tls_ctx_->native_handle()));
        BIO* bio = detail::nosig_bio_method() ? BIO_new(detail::nosig_bio_method()) : nullptr;
        if (!ssl_ || !bio) {
            BIO_free(bio);
            co_return make_error_code(std::errc::not_enough_memory);
        }
        BIO_set_data(bio,
                     reinterpret_cast<void*>(static_cast<std::intptr_t>(socket_.native_handle())));
        SSL* ssl = ssl_.get();
        // A session of this origin (same host name, same verification) may be resumed. The
        // connection gets its own copy: OpenSSL marks a session not resumable when its
        // connection is freed without a TLS shutdown, as close() does.
        if (resume_) {
            SSL_SESSION* copy = SSL_SESSION_dup(resume_.get());
            if (!copy || SSL_set_session(ssl, copy) != 1)
                ERR_clear_error();  // unusable: a full handshake
            SSL_SESSION_free(copy); // SSL_set_session took its own reference
            resume_ = nullptr;
        }
        SSL_set_bio(ssl, bio, bio); // the SSL owns the BIO
        // Keep the record buffers (no SSL_MODE_RELEASE_BUFFERS), read whole records at once,
        // and let a write resume with a moved buffer after a partial write.
        SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
        SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_set_read_ahead(ssl, 1);
        SSL_set_connect_state(ssl);
        // Verification is forced on whatever the context says; a context callback still
        // runs, and may refuse a certificate, but never accept one OpenSSL refused.
        SSL_set_verify(ssl, SSL_VERIFY_PEER, &detail::strict_verify);
        // A session of this origin (same host name and verification) may be resumed.
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        std::error_code not_ip;
        (void)asio::ip::make_address(target.host, not_ip);
        if (!not_ip) {
            // An IP literal: no SNI (RFC 6066 3), match an iPAddress subjectAltName.
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), target.host.c_str()) != 1)
                co_return make_error_code(errc::url_invalid);
        } else {
            // A fully qualified name's trailing dot ("idp.example.") is not part of the name
            // in SNI (RFC 6066 3) nor in a certificate's dNSName (RFC 5280 4.2.1.6).
            std::string name = target.host;
            if (name.size() > 1 && name.back() == '.')
                name.pop_back();
            if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1 ||
                SSL_set1_host(ssl, name.c_str()) != 1)
                co_return make_error_code(errc::url_invalid);
        }
        arm(t.handshake);
        for (;;) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_do_handshake(ssl);
            if (r == 1)
                break;
            want w = want::none;
            ec = tls_error(r, w);
            if (ec || (ec = co_await wait(w)))
                break;
        }
        disarm();
        if (ec) {
            long vr = SSL_get_verify_result(ssl);
            if (vr != X509_V_OK && !timed_out())
                co_return detail::map_verify_result(vr);
            co_return fix(ec);
        }
        co_return std::error_code{};
    }

    executor_type ex_;
    std::shared_ptr<asio::ssl::context> tls_ctx_;
    socket_type socket_;
    std::unique_ptr<SSL, detail::ssl_free> ssl_; // after connect() on TLS connections
    detail::tls_session_ptr resume_;             // offered by the next handshake
    bool session_taken_ = false;
    std::weak_ptr<detail::pending_resolve> resolving_; // a name resolution under way
    asio::steady_timer timer_;
    std::mutex timer_mu_;                                       // guards the timer state below
    clock::time_point deadline_ = clock::time_point::max();     // of the pending step
    clock::time_point timer_expiry_ = clock::time_point::max(); // of the pending wait
    std::uint64_t timer_gen_ = 0;                               // of the live wait
    std::uint64_t steps_ = 0;                                   // arm() calls so far
    bool timer_armed_ = false;
    std::atomic<bool> timed_out_{false};
    std::uint64_t plain_written_ = 0; // bytes_written() of a plain TCP connection
    bool leftover_ = false;
    bool peer_closed_ = false;
    std::uint8_t spec_misses_ = 0; // read_response_now() reads in a row that found nothing
    std::uint8_t spec_skips_ = 0;
    want next_want_ = want::read; // what async_wait_ready() waits for
    std::unique_ptr<char[]> buffer_;
    std::string wire_;
    response_parser parser_;
};

} // namespace oidc::http
