// asio-oidc: asynchronous HTTP/1.1 client with a keep-alive pool, timeouts, cancellation,
// TLS verification and HTTP CONNECT proxies. Knows nothing of OAuth.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/error.hpp>
#include <oidc/http/connection.hpp>
#include <oidc/http/message.hpp>
#include <oidc/http/parser.hpp>
#include <oidc/http/serializer.hpp>
#include <oidc/http/url.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/co_spawn.hpp>
#include <asio/execution_context.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace oidc::http {

/// Options of an http::client. The defaults are the secure ones.
struct client_options {
    timeouts timeout;
    parser_limits limits;
    std::size_t max_idle_per_origin = 8; ///< idle connections kept per origin
    std::size_t max_origins = 64;        ///< origins with idle connections kept
    /// An idle connection older than this is closed instead of reused (servers close idle
    /// keep-alive connections after a while: nginx 75 s, Apache 5 s).
    std::chrono::milliseconds max_idle_time{30000};
    bool allow_insecure_http = false; ///< plain http:// only when true (loopback tests, demo)
    /// The default of send_options::retry_non_idempotent for this client's requests.
    bool retry_non_idempotent = false;
    /// TLS session resumption: a new connection to an origin offers the newest session of
    /// an earlier connection to it (kept per client, per origin, at most max_origins),
    /// which saves the certificate exchange and verification when the server accepts.
    bool resume_tls_sessions = true;
    /// TLS context; null = system trust store (+ ca_file), TLS 1.2 minimum. Peer and host
    /// name verification are forced on per connection whatever the context says.
    std::shared_ptr<asio::ssl::context> tls;
    std::string ca_file; ///< extra trusted CA certificates (PEM) when `tls` is null
    /// "http://host:port" of an HTTP proxy, used with CONNECT for https:// targets (plain
    /// http:// targets always go direct). Empty = none.
    std::string proxy;
    /// When true and `proxy` is empty: take the proxy from https_proxy / HTTPS_PROXY and
    /// honour no_proxy / NO_PROXY (host names, domain suffixes, IP literals, CIDR ranges
    /// such as 10.0.0.0/8 or ::1/128, "*").
    bool proxy_from_environment = false;
};

/// Per-call settings: the client's by default (client::default_send_options()).
struct send_options {
    timeouts timeout;
    parser_limits limits;
    /// Also replay a POST or PATCH once on a fresh connection when a reused connection
    /// fails after the request was written but before any response byte (see "Retries:"
    /// at client::async_send). Off by default: a replayed POST may act twice at the server
    /// (an OAuth authorization code used twice makes the provider revoke the tokens issued
    /// for it, RFC 6749 4.1.2 and 10.5). Turn it on only for requests the server treats
    /// as idempotent.
    bool retry_non_idempotent = false;
};

namespace detail {

inline std::string_view trim_ascii(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// Is the IP address `host` inside the CIDR range `cidr` ("10.0.0.0/8", "::1/128",
/// "[fd00::]/8")? An IPv4 range also holds the IPv4-mapped IPv6 form of its addresses.
/// A malformed range (bad address, prefix longer than the address) holds nothing.
inline bool cidr_contains(std::string_view cidr, asio::ip::address host) {
    const auto slash = cidr.find('/');
    if (slash == std::string_view::npos)
        return false;
    std::string_view addr = cidr.substr(0, slash);
    const std::string_view bits = cidr.substr(slash + 1);
    if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']')
        addr = addr.substr(1, addr.size() - 2);
    if (bits.empty() || bits.size() > 3)
        return false;
    unsigned prefix = 0;
    for (char c : bits) {
        if (c < '0' || c > '9')
            return false;
        prefix = prefix * 10 + static_cast<unsigned>(c - '0');
    }
    std::error_code ec;
    const asio::ip::address net = asio::ip::make_address(std::string(addr), ec);
    if (ec)
        return false;
    if (net.is_v4() && host.is_v6() && host.to_v6().is_v4_mapped())
        host = asio::ip::make_address_v4(asio::ip::v4_mapped, host.to_v6());
    if (net.is_v4() != host.is_v4())
        return false;
    auto within = [prefix](const auto& a, const auto& b) {
        if (prefix > a.size() * 8)
            return false;
        std::size_t i = 0;
        for (; i < prefix / 8; ++i)
            if (a[i] != b[i])
                return false;
        const unsigned rest = prefix % 8;
        if (rest == 0)
            return true;
        const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
        return (a[i] & mask) == (b[i] & mask);
    };
    return net.is_v4() ? within(net.to_v4().to_bytes(), host.to_v4().to_bytes())
                       : within(net.to_v6().to_bytes(), host.to_v6().to_bytes());
}

/// Does `host` (lower-case, IPv6 without brackets) match a no_proxy list? Entries are
/// separated by commas; "*" matches everything; "example.com" and ".example.com" match
/// the domain and its subdomains; a ":port" suffix and IPv6 brackets are ignored. An IP
/// literal host matches an equal IP entry ("::1" and "0::1" are equal) or a CIDR range
/// ("10.0.0.0/8", "::1/128"), never a suffix; host names are not resolved.
inline bool no_proxy_matches(std::string_view list, std::string_view host) {
    std::string_view h = host;
    if (!h.empty() && h.back() == '.')
        h.remove_suffix(1);
    std::error_code not_ip;
    const asio::ip::address ip = asio::ip::make_address(std::string(h), not_ip);
    while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view e = trim_ascii(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (e.empty())
            continue;
        if (e == "*")
            return true;
        if (e.find('/') != std::string_view::npos) {
            if (!not_ip && cidr_contains(e, ip))
                return true;
            continue;
        }
        if (e.front() == '[') { // [::1] or [::1]:port
            auto close = e.find(']');
            if (close == std::string_view::npos)
                continue;
            e = e.substr(1, close - 1);
        } else if (e.find(':') == e.rfind(':') && e.find(':') != std::string_view::npos) {
            e = e.substr(0, e.find(':')); // host:port (one colon: not an IPv6 literal)
        }
        if (!not_ip) { // an IP literal host: only an equal address matches
            std::error_code bad;
            const asio::ip::address entry = asio::ip::make_address(std::string(e), bad);
            if (!bad && entry == ip)
                return true;
            continue;
        }
        while (!e.empty() && e.front() == '.')
            e.remove_prefix(1);
        if (!e.empty() && e.back() == '.')
            e.remove_suffix(1);
        if (e.empty() || h.size() < e.size())
            continue;
        std::string_view tail = h.substr(h.size() - e.size());
        if (!iequals(tail, e))
            continue;
        if (h.size() == e.size() || h[h.size() - e.size() - 1] == '.')
            return true;
    }
    return false;
}

/// Parses a proxy setting ("http://host:port" or "host:port"); only http proxies.
inline std::error_code parse_proxy(std::string_view in, url& out) {
    std::string s(trim_ascii(in));
    if (s.find("://") == std::string::npos)
        s = "http://" + s;
    url u;
    if (auto ec = parse_url(s, u))
        return ec;
    if (u.scheme != "http" || (u.path != "/" && !u.path.empty()) || !u.query.empty())
        return make_error_code(errc::url_invalid);
    out = std::move(u);
    return {};
}

inline const char* getenv_either(const char* lower, const char* upper) noexcept {
    const char* v = std::getenv(lower);
    if (!v || !*v)
        v = std::getenv(upper);
    return (v && *v) ? v : nullptr;
}

/// The state every operation of one client shares: options, TLS context, idle pool.
class client_state {
public:
    client_state(asio::any_io_executor ex, client_options opts)
        : ex_(std::move(ex)), opts_(std::move(opts)) {
        tls_ = opts_.tls ? opts_.tls : make_tls_context(opts_.ca_file);
        std::string proxy = opts_.proxy;
        if (proxy.empty() && opts_.proxy_from_environment) {
            if (const char* p = getenv_either("https_proxy", "HTTPS_PROXY"))
                proxy = p;
            if (const char* n = getenv_either("no_proxy", "NO_PROXY"))
                no_proxy_ = n;
        }
        if (!proxy.empty()) {
            url u;
            proxy_error_ = parse_proxy(proxy, u);
            if (!proxy_error_)
                proxy_ = std::move(u);
        }
    }

    const asio::any_io_executor& executor() const noexcept { return ex_; }
    const client_options& options() const noexcept { return opts_; }
    const std::shared_ptr<asio::ssl::context>& tls() const noexcept { return tls_; }

    /// The proxy for this target, or null for a direct connection. `ec` is set when the
    /// configured proxy is not a valid http://host:port URL.
    const url* proxy_for(const url& target, std::error_code& ec) const {
        if (target.scheme != "https" || (!proxy_ && !proxy_error_))
            return nullptr;
        if (!no_proxy_.empty() && no_proxy_matches(no_proxy_, target.host))
            return nullptr;
        if (proxy_error_) {
            ec = proxy_error_;
            return nullptr;
        }
        return &*proxy_;
    }

    /// The most recently used live idle connection to `origin`, or null. Connections idle
    /// for longer than max_idle_time are closed; the others are checked (connection::
    /// idle_alive(), one non-blocking recv) for a server close and for stray bytes - the
    /// late tail of an earlier response, such as a body after a HEAD's headers or past a
    /// short Content-Length, that would otherwise be read as the next request's response.
    std::shared_ptr<connection> take(std::string_view origin) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = idle_.find(origin);
        if (it == idle_.end())
            return nullptr;
        auto& v = it->second;
        auto now = connection::clock::now();
        std::shared_ptr<connection> c;
        while (!v.empty() && !c) {
            auto cand = std::move(v.back());
            v.pop_back();
            if (now - cand->idle_since <= opts_.max_idle_time && cand->idle_alive())
                c = std::move(cand);
        }
        // An origin's entry stays when it empties (the next put() allocates nothing); at
        // most max_origins entries, empty ones evicted first.
        return c;
    }

    /// Returns a connection that completed its response and may be reused (to the pool
    /// of its origin, connection::origin).
    void put(std::shared_ptr<connection> c) {
        if (opts_.max_idle_per_origin == 0 || opts_.max_origins == 0)
            return;
        c->park_soon();
        c->idle_since = connection::clock::now();
        std::lock_guard<std::mutex> lock(mu_);
        auto it = idle_.find(std::string_view(c->origin));
        if (it == idle_.end()) {
            if (idle_.size() >= opts_.max_origins)
                evict_one_origin();
            it = idle_.emplace(c->origin, std::vector<std::shared_ptr<connection>>{}).first;
        }
        auto& v = it->second;
        v.push_back(std::move(c));
        if (v.size() > opts_.max_idle_per_origin)
            v.erase(v.begin()); // the oldest
    }

    /// The TLS session to offer to a new connection to `origin`, or null.
    tls_session_ptr session_for(const std::string& origin) const {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sessions_.find(origin);
        return it == sessions_.end() ? nullptr : it->second;
    }

    /// Keeps the newest resumable TLS session of `origin` (at most max_origins origins).
    void save_session(const std::string& origin, tls_session_ptr s) {
        if (opts_.max_origins == 0)
            return;
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sessions_.find(origin);
        if (it != sessions_.end()) {
            it->second = std::move(s);
            return;
        }
        if (sessions_.size() >= opts_.max_origins)
            sessions_.erase(sessions_.begin());
        sessions_.emplace(origin, std::move(s));
    }

    void close_idle() {
        decltype(idle_) gone;
        {
            std::lock_guard<std::mutex> lock(mu_);
            gone.swap(idle_);
        }
    }

    std::size_t idle_count() const {
        std::lock_guard<std::mutex> lock(mu_);
        std::size_t n = 0;
        for (const auto& [o, v] : idle_)
            n += v.size();
        return n;
    }

private:
    /// Drops the origin whose newest idle connection is the oldest (an empty one first).
    void evict_one_origin() {
        auto victim = idle_.end();
        for (auto it = idle_.begin(); it != idle_.end(); ++it) {
            if (it->second.empty()) {
                victim = it;
                break;
            }
            if (victim == idle_.end() ||
                it->second.back()->idle_since < victim->second.back()->idle_since)
                victim = it;
        }
        if (victim != idle_.end())
            idle_.erase(victim);
    }

    asio::any_io_executor ex_;
    client_options opts_;
    std::shared_ptr<asio::ssl::context> tls_;
    std::optional<url> proxy_;
    std::error_code proxy_error_;
    std::string no_proxy_;
    mutable std::mutex mu_;
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view k) const noexcept {
            return std::hash<std::string_view>{}(k);
        }
    };
    std::unordered_map<std::string, std::vector<std::shared_ptr<connection>>, key_hash,
                       std::equal_to<>>
        idle_;
    std::unordered_map<std::string, tls_session_ptr> sessions_; // TLS resumption per origin
};

using send_tuple = std::tuple<std::error_code, response>;

/// Requests in a row on this thread that completed without suspending their caller.
inline unsigned& inline_streak() noexcept {
    thread_local unsigned n = 0;
    return n;
}
inline constexpr unsigned max_inline_streak = 16;

/// What a request's target URL gives: the parsed URL, the pool key (origin), the
/// request-target and the Host value. Kept per thread for the last target (a client sends
/// to the same URLs again and again): a hit costs one comparison instead of a parse and
/// four strings. The reference is valid until the thread runs other code: use it before
/// any suspension.
struct target_info {
    std::string target; ///< the URL as given
    std::error_code ec; ///< parse_url's result
    url u;
    std::string origin;
    std::string request_target;
    std::string host_header;
};

inline const target_info& cached_target(std::string_view target) {
    thread_local target_info t;
    thread_local bool filled = false;
    if (!filled || t.target != target) {
        filled = false; // until complete (a bad_alloc on the way leaves it empty)
        t.target.assign(target);
        t.u = url{};
        t.ec = parse_url(target, t.u);
        t.origin.clear();
        t.request_target.clear();
        t.host_header.clear();
        if (!t.ec) {
            t.u.append_origin(t.origin);
            t.u.append_target(t.request_target);
            t.u.append_host_header(t.host_header);
        }
        filled = true;
    }
    return t;
}

/// Connects a new connection to the origin of `target` (through the proxy the client uses
/// for it) into `out`. A coroutine of its own, so that the URL it needs across the
/// connection steps is not in the frame of every request.
OIDC_CORO inline asio::awaitable<std::error_code>
open_connection(client_state& st, std::string_view target, timeouts t,
                std::shared_ptr<connection>& out) {
    url u;
    const url* proxy = nullptr;
    {
        const target_info& info = cached_target(target);
        if (info.ec)
            co_return info.ec;
        u = info.u;
        std::error_code ec;
        proxy = st.proxy_for(u, ec);
        if (ec)
            co_return ec;
        out = std::make_shared<connection>(st.executor(), u.scheme == "https" ? st.tls() : nullptr);
        out->origin = info.origin;
    }
    if (out->is_tls() && st.options().resume_tls_sessions)
        out->set_resume_session(st.session_for(out->origin));
    std::error_code ec = co_await out->connect(u, proxy, t);
    if (ec)
        out->close();
    co_return ec;
}

/// The I/O driver of one request. Runs on the caller's coroutine (awaitable tokens) or on
/// a coroutine of its own on the client's executor (other tokens); no strand is needed:
/// the pool is behind a mutex and a connection serves one request at a time.
///
/// The frame stays under the 1,020 bytes that Asio recycles per thread (no allocation per
/// request): the parser lives in the connection, the parsed URL in the thread's
/// target_info (used before any suspension), connecting is a coroutine of its own, and
/// the waits for the response are awaited here (no read coroutine: Asio keeps only two
/// recycled frames per thread).
OIDC_CORO inline asio::awaitable<send_tuple> send_impl(std::shared_ptr<client_state> st,
                                                       request req, send_options so) {
    std::error_code ec;
    try {
        // May this request be sent again after it reached the server (RFC 9110 9.2.2)?
        const bool replayable = is_idempotent(req.method) || so.retry_non_idempotent;
        std::shared_ptr<connection> conn;
        // A pooled connection lends its serialization buffer (no allocation per request);
        // the buffer goes back with whichever connection ends up in the pool.
        std::string wire;
        {
            const target_info& t = cached_target(req.target);
            if (t.ec)
                co_return send_tuple{t.ec, response{}};
            if (t.u.scheme != "https" && !st->options().allow_insecure_http)
                co_return send_tuple{make_error_code(errc::insecure_scheme), response{}};
            (void)st->proxy_for(t.u, ec); // a bad proxy setting fails before the pool
            if (ec)
                co_return send_tuple{ec, response{}};
            conn = st->take(t.origin);
            if (conn)
                wire = std::move(conn->wire_buffer());
            wire.clear();
            ec = serialize_request(req, t.request_target, t.host_header, wire);
        }
        if (ec) {
            if (conn) {
                conn->wire_buffer() = std::move(wire);
                st->put(std::move(conn));
            }
            co_return send_tuple{ec, response{}};
        }
        bool waited = false; // whether this request suspended the caller

        for (int attempt = 0;; ++attempt) {
            if (attempt > 0)
                conn = nullptr;
            const bool reused = conn != nullptr;
            if (!conn) {
                waited = true;
                ec = co_await open_connection(*st, req.target, so.timeout, conn);
                if (ec)
                    co_return send_tuple{ec, response{}};
            }
            response_parser& parser = conn->parser();
            parser.reset(req.method == verb::head, so.limits);
            bool any_bytes = false;
            const std::uint64_t written_before = conn->bytes_written();
            // Non-blocking steps first; a wait only for what must wait (see connection).
            std::string_view rest = wire;
            ec = conn->write_now(rest);
            if (!ec && !rest.empty()) {
                waited = true;
                ec = co_await conn->write(rest, so.timeout.write);
            }
            bool done = false;
            if (!ec)
                ec = conn->read_response_now(parser, any_bytes, done);
            else if (detail::is_peer_closed(ec) && conn->bytes_written() != written_before &&
                     conn->read_early_response(parser, any_bytes))
                ec = {}, done = true; // the server answered before it took the whole request
            // Each wait within timeout.read, all of them within timeout.response.
            const auto response_end = done ? connection::clock::time_point{}
                                           : connection::clock::now() + so.timeout.response;
            while (!ec && !done) {
                waited = true;
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(
                    response_end - connection::clock::now());
                conn->arm_read(
                    std::max(std::min(so.timeout.read, left), std::chrono::milliseconds(0)));
                auto [wait_error] = co_await conn->async_wait_ready();
                ec = conn->read_after_wait(wait_error, parser, any_bytes, done);
            }
            if (ec) {
                // The stale keep-alive race: a reused idle connection that the server closed
                // (write failed, or EOF/reset before any response byte) is retried once on a
                // fresh connection when the request may be replayed (idempotent method or
                // retry_non_idempotent), or when no byte of it reached the socket. Timeouts,
                // cancellation and errors after the first response byte are never retried.
                const bool unsent = conn->bytes_written() == written_before;
                conn->close();
                if (reused && !any_bytes && detail::is_peer_closed(ec) && (replayable || unsent))
                    continue;
                if (detail::is_peer_closed(ec))
                    ec = make_error_code(errc::http_truncated);
                co_return send_tuple{ec, response{}};
            }
            if (st->options().resume_tls_sessions)
                if (auto session = conn->take_resumable_session())
                    st->save_session(conn->origin, std::move(session));
            // The response leaves the parser before the connection goes back to the pool
            // (another request may take it at once).
            send_tuple out{std::error_code{}, parser.release()};
            if (conn->reusable(parser)) {
                conn->wire_buffer() = std::move(wire);
                st->put(std::move(conn));
            } else {
                conn->close();
            }
            // A request that never waited did not let the caller's thread run anything else:
            // after a run of them, yield once so that a loop of requests to a fast server
            // cannot starve the other handlers (timers, other coroutines) of the context.
            if (waited)
                inline_streak() = 0;
            else if (++inline_streak() >= max_inline_streak) {
                inline_streak() = 0;
                co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
            }
            co_return out;
        }
    } catch (const std::system_error& e) {
        ec = e.code();
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    co_return send_tuple{ec, response{}};
}

/// The awaitable fast path: the request runs inside the caller's coroutine (no co_spawn,
/// no strand, no handler hop). Throws std::system_error on error, like use_awaitable.
OIDC_CORO inline asio::awaitable<response> send_awaitable(std::shared_ptr<client_state> st,
                                                          request req, send_options so) {
    auto [ec, res] = co_await send_impl(std::move(st), std::move(req), std::move(so));
    if (ec)
        throw std::system_error(ec);
    co_return std::move(res);
}

template <class Token>
inline constexpr bool is_plain_awaitable_token =
    std::is_same_v<std::decay_t<Token>, asio::use_awaitable_t<asio::any_io_executor>>;

template <class Token>
inline constexpr bool is_tuple_awaitable_token =
    std::is_same_v<std::decay_t<Token>,
                   net::as_tuple_t<asio::use_awaitable_t<asio::any_io_executor>>>;

/// Adapts co_spawn's void(exception_ptr, send_tuple) to void(error_code, response),
/// keeping the handler's executor, allocator and cancellation slot.
template <class Handler>
struct send_completion {
    Handler handler;
    void operator()(std::exception_ptr ep, send_tuple r) {
        auto& [ec, res] = r;
        if (ep) {
            try {
                std::rethrow_exception(ep);
            } catch (const std::system_error& e) {
                ec = e.code();
            } catch (...) {
                ec = std::make_error_code(std::errc::state_not_recoverable);
            }
        }
        std::move(handler)(ec, std::move(res));
    }
};

struct initiate_send {
    template <class Handler>
    void operator()(Handler&& h, std::shared_ptr<client_state> st, request req,
                    send_options so) const {
        const auto ex = st->executor();
        asio::co_spawn(ex, send_impl(std::move(st), std::move(req), std::move(so)),
                       send_completion<std::decay_t<Handler>>{std::forward<Handler>(h)});
    }
};

} // namespace detail

/// An asynchronous HTTP/1.1 client: TLS with verification, a keep-alive pool per origin,
/// per-step timeouts, per-operation cancellation, optional HTTP CONNECT proxy.
///
/// Thread safety: one client may be used concurrently by any number of coroutines and
/// threads (the pool is behind a mutex; a connection serves one request at a time). Lifetime:
/// operations keep the shared state alive, but the client and its pooled connections must
/// be destroyed before the execution context.
class client {
public:
    using executor_type = asio::any_io_executor;

    explicit client(executor_type ex, client_options opts = {})
        : st_(std::make_shared<detail::client_state>(std::move(ex), std::move(opts))) {}

    template <class ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, asio::execution_context&>
    explicit client(ExecutionContext& ctx, client_options opts = {})
        : client(executor_type(ctx.get_executor()), std::move(opts)) {}

    executor_type get_executor() const { return st_->executor(); }
    const client_options& options() const noexcept { return st_->options(); }

    /// The client's timeouts and limits, to adjust for one call.
    send_options default_send_options() const {
        return send_options{st_->options().timeout, st_->options().limits,
                            st_->options().retry_non_idempotent};
    }

    /// Sends `req` (`req.target` is an absolute http(s) URL) and reads the response.
    ///
    /// - Handler: `void(std::error_code, http::response)`; any completion token, default
    ///   `asio::use_awaitable` (which throws std::system_error on error).
    /// - Executor: with `asio::use_awaitable` or `as_tuple(asio::use_awaitable)` (the
    ///   default executor type) the request runs inside the awaiting coroutine, with no
    ///   hop (a keep-alive request whose response is already there completes without
    ///   suspending it; after 16 such requests in a row on a thread it yields once, so
    ///   a request loop does not starve the context); with other tokens it runs on a
    ///   coroutine of its own on the client's executor and the handler runs on its
    ///   associated executor (else the client's), never inside this call. Sockets and
    ///   timers belong to the client's executor either way.
    /// - Lifetimes: `req` is moved in; the client may be destroyed while this runs.
    /// - Cancellation: terminal cancellation through the handler's cancellation slot
    ///   (cancellation_signal, parallel_group, awaitable operators) completes with
    ///   asio::error::operation_aborted; the connection is dropped.
    /// - Errors: errc::url_invalid, errc::insecure_scheme (http:// not allowed),
    ///   errc::timed_out, errc::tls_* (certificate verification), errc::proxy_connect_failed,
    ///   the parser's errc::http_* (limits, framing, errc::http_truncated), socket errors.
    ///   Any HTTP status is a success here.
    /// - Retries (the stale keep-alive race, RFC 9112 9.3.1): an idle pooled connection is
    ///   checked before every reuse for a server close (EOF, TLS close_notify) and for
    ///   stray bytes (a late tail of the previous response, which would otherwise be read
    ///   as this request's response): one non-blocking recv with MSG_PEEK; such a
    ///   connection is dropped and another one taken (or a new one connected). When a reused
    ///   connection still fails before the first response byte (write error, EOF or reset), the
    ///   request is sent once more on a fresh connection if it is idempotent (GET, HEAD, PUT,
    ///   DELETE, OPTIONS; RFC 9110 9.2.2), or if no byte of it reached the socket, or if
    ///   send_options::retry_non_idempotent is set; otherwise (a POST or PATCH that the
    ///   server may have received) the error is returned and the request is not replayed.
    ///   A new connection, a timeout, cancellation, or an error after the first response
    ///   byte is never retried.
    /// - Spec: RFC 9112 (HTTP/1.1 messages, persistence 9.3), RFC 9110 9.3.6 (CONNECT),
    ///   RFC 6125 / RFC 9525 (host name verification), RFC 6066 3 (SNI, not for IPs).
    template <class CompletionToken = asio::use_awaitable_t<>>
    requires(!std::is_same_v<std::decay_t<CompletionToken>, send_options>) auto async_send(
        request req, CompletionToken&& token = {}) {
        return async_send(std::move(req), default_send_options(),
                          std::forward<CompletionToken>(token));
    }

    /// The same with per-call timeouts and limits.
    template <class CompletionToken = asio::use_awaitable_t<>>
    auto async_send(request req, send_options opts, CompletionToken&& token = {}) {
        if constexpr (detail::is_plain_awaitable_token<CompletionToken>) {
            return detail::send_awaitable(st_, std::move(req), std::move(opts));
        } else if constexpr (detail::is_tuple_awaitable_token<CompletionToken>) {
            return detail::send_impl(st_, std::move(req), std::move(opts));
        } else {
            return asio::async_initiate<CompletionToken, void(std::error_code, response)>(
                detail::initiate_send{}, token, st_, std::move(req), std::move(opts));
        }
    }

    /// Closes every idle pooled connection (requests in flight are not affected).
    void close_idle() { st_->close_idle(); }

    /// Idle connections in the pool (for tests and metrics).
    std::size_t idle_connections() const { return st_->idle_count(); }

private:
    std::shared_ptr<detail::client_state> st_;
};

} // namespace oidc::http

template <class Handler, class Executor>
struct asio::associated_executor<oidc::http::detail::send_completion<Handler>, Executor> {
    using type = asio::associated_executor_t<Handler, Executor>;
    static type get(const oidc::http::detail::send_completion<Handler>& h,
                    const Executor& ex = Executor()) noexcept {
        return asio::get_associated_executor(h.handler, ex);
    }
};

template <class Handler, class Allocator>
struct asio::associated_allocator<oidc::http::detail::send_completion<Handler>, Allocator> {
    using type = asio::associated_allocator_t<Handler, Allocator>;
    static type get(const oidc::http::detail::send_completion<Handler>& h,
                    const Allocator& a = Allocator()) noexcept {
        return asio::get_associated_allocator(h.handler, a);
    }
};

template <class Handler, class Slot>
struct asio::associated_cancellation_slot<oidc::http::detail::send_completion<Handler>, Slot> {
    using type = asio::associated_cancellation_slot_t<Handler, Slot>;
    static type get(const oidc::http::detail::send_completion<Handler>& h,
                    const Slot& s = Slot()) noexcept {
        return asio::get_associated_cancellation_slot(h.handler, s);
    }
};
