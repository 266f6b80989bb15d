// asio-oidc example: resource_server (seed 003).
//
// A small HTTPS API on 127.0.0.1 that serves `GET /v4/account/<id>/dossiers` only to requests
// carrying a valid bearer JWT. Tokens are verified through oidc::jwks_cache against the
// provider's keys endpoint (optionally the OAuthSD-style per-client URL `...?aud=<client_id>`):
// signature with an algorithm allowlist, iss, aud, exp (RFC 9068 access-token profile).
//
//   401 + `WWW-Authenticate: Bearer realm="eat-api"`                        no token
//   401 + `WWW-Authenticate: Bearer realm=..., error="invalid_token", ...`  bad/expired/revoked
//
// Test hooks (loopback peers only): `POST /admin/revoke` with `jti=<jti>` rejects that token
// from now on (to show a session's 401 replay); `GET /admin/stats` counts the answers.
//
// Configuration: flags, else environment, else the provider.env file of the local test
// provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help for the list.
#include <oidc/detail/config.hpp> // oidc::net::use_nothrow_awaitable (Asio 1.22 and later)
#include <oidc/error.hpp>
#include <oidc/http/message.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/claims.hpp>
#include <oidc/jose/jwt.hpp>
#include <oidc/jwks_cache.hpp>

#include "common/config.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/signal_set.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using asio::ip::tcp;
using tls_stream = asio::ssl::stream<tcp::socket>;

// ---- configuration ----------------------------------------------------------------------

struct settings {
    std::string issuer;
    std::string jwks_url; ///< with --per-client-keys: "...?aud=<that client id>"
    std::string audience;
    std::string realm = "eat-api";
    std::string algs;
    std::string cert, key;
    unsigned short port = 0;
    std::string port_file;
    oidc::http::client_options http;
};

bool read_settings(int argc, char** argv, settings& c) {
    oidc_example::config cfg("resource_server", argc, argv);
    // The local test provider's server certificate serves the API too (127.0.0.1).
    const std::string pki = cfg.provider_dir().empty() ? "" : cfg.provider_dir() + "/pki";
    c.issuer = cfg.url("issuer", "OIDC_ISSUER", "OIDC_TEST_ISSUER");
    c.jwks_url = cfg.url("jwks-url", "OIDC_JWKS_URL", "OIDC_TEST_JWKS_URI");
    auto per_client_keys = cfg.get("per-client-keys", "OIDC_PER_CLIENT_KEYS");
    c.audience = cfg.get("audience", "OIDC_AUDIENCE", "OIDC_TEST_AUDIENCE", "eat-api");
    c.algs = cfg.get("algs", "OIDC_ALGS", "OIDC_TEST_SIGNING_ALG", "RS256");
    c.cert = cfg.get("cert", "API_CERT", {}, pki.empty() ? "" : pki + "/server.pem");
    c.key = cfg.get("key", "API_KEY", {}, pki.empty() ? "" : pki + "/server.key");
    c.port = static_cast<unsigned short>(cfg.number("port", "API_PORT", 0, 0, 65535));
    c.port_file = cfg.get("port-file", "API_PORT_FILE");
    c.http = cfg.http_options();
    cfg.require(!c.issuer.empty() && !c.cert.empty() && !c.key.empty(),
                "need an issuer and a server certificate (see --help)");
    if (c.jwks_url.empty() && !c.issuer.empty())
        c.jwks_url = c.issuer + "/protocol/openid-connect/certs";
    if (!per_client_keys.empty()) // OAuthSD: the keys of one client at "...?aud=<client_id>"
        c.jwks_url +=
            (c.jwks_url.find('?') == std::string::npos ? "?aud=" : "&aud=") + per_client_keys;
    return cfg.ok();
}

// ---- the API's state --------------------------------------------------------------------

struct api_state {
    settings cfg;
    oidc::jose::validation_options vo;
    std::unique_ptr<oidc::jwks_cache> keys;
    std::mutex mu;
    std::set<std::string> revoked_jti;
    std::atomic<std::uint64_t> requests{0}, ok{0}, no_token{0}, invalid_token{0}, revoked{0};
};

// A quoted-string value for WWW-Authenticate: no '"' or '\\' or control characters.
std::string quoted_safe(std::string_view s) {
    std::string out;
    for (char ch : s)
        if (ch != '"' && ch != '\\' && static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f)
            out += ch;
    return out;
}

oidc::http::response json_response(int status, std::string reason, std::string body) {
    oidc::http::response r;
    r.status = status;
    r.reason = std::move(reason);
    r.headers.set("Content-Type", "application/json");
    r.headers.set("Cache-Control", "no-store");
    r.body = std::move(body);
    return r;
}

oidc::http::response unauthorized(const api_state& st, std::string_view error,
                                  std::string_view description) {
    auto r = json_response(401, "Unauthorized", "{\"error\":\"unauthorized\"}");
    std::string challenge = "Bearer realm=\"" + st.cfg.realm + "\"";
    if (!error.empty()) // RFC 6750 3: no error code when the request had no token at all
        challenge += ", error=\"" + std::string(error) + "\", error_description=\"" +
                     quoted_safe(description) + "\"";
    r.headers.set("WWW-Authenticate", challenge);
    return r;
}

std::string form_value(std::string_view body, std::string_view name) {
    while (!body.empty()) {
        auto amp = body.find('&');
        auto pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
        auto eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name)
            return std::string(pair.substr(eq + 1)); // jti values are URL-safe
    }
    return {};
}

// GET /v4/account/<id>/dossiers -> the account id, else empty.
std::string dossiers_account(std::string_view target) {
    constexpr std::string_view prefix = "/v4/account/", suffix = "/dossiers";
    if (auto q = target.find('?'); q != std::string_view::npos)
        target = target.substr(0, q);
    if (target.size() <= prefix.size() + suffix.size() ||
        target.substr(0, prefix.size()) != prefix ||
        target.substr(target.size() - suffix.size()) != suffix)
        return {};
    auto id = target.substr(prefix.size(), target.size() - prefix.size() - suffix.size());
    for (char ch : id)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_')
            return {};
    return std::string(id);
}

asio::awaitable<oidc::http::response> handle(std::shared_ptr<api_state> st,
                                             const oidc::http::request& req, bool loopback_peer) {
    ++st->requests;
    if (req.target == "/health")
        co_return json_response(200, "OK", "{\"ok\":true}");
    if (req.target == "/admin/stats" && loopback_peer) {
        std::ostringstream o;
        o << "{\"requests\":" << st->requests << ",\"ok\":" << st->ok
          << ",\"no_token\":" << st->no_token << ",\"invalid_token\":" << st->invalid_token
          << ",\"revoked\":" << st->revoked << ",\"jwks_fetches\":" << st->keys->fetch_count()
          << "}";
        co_return json_response(200, "OK", o.str());
    }
    if (req.target == "/admin/revoke" && loopback_peer) {
        if (req.method != oidc::http::verb::post)
            co_return json_response(405, "Method Not Allowed", "{\"error\":\"method\"}");
        auto jti = form_value(req.body, "jti");
        if (jti.empty() || jti.size() > 200)
            co_return json_response(400, "Bad Request", "{\"error\":\"jti required\"}");
        std::lock_guard<std::mutex> lock(st->mu);
        st->revoked_jti.insert(jti);
        std::cout << "api: revoked jti " << jti.substr(0, 8) << "..." << std::endl;
        co_return json_response(200, "OK", "{\"revoked\":true}");
    }
    auto account = dossiers_account(req.target);
    if (account.empty())
        co_return json_response(404, "Not Found", "{\"error\":\"not_found\"}");
    if (req.method != oidc::http::verb::get)
        co_return json_response(405, "Method Not Allowed", "{\"error\":\"method\"}");

    // RFC 6750 2.1: "Authorization: Bearer <token>", the scheme case-insensitive.
    auto auth = req.headers.get("Authorization");
    if (!auth) {
        ++st->no_token;
        co_return unauthorized(*st, {}, {});
    }
    if (auth->size() < 7 || !oidc::http::iequals(auth->substr(0, 7), "Bearer ")) {
        ++st->invalid_token;
        co_return unauthorized(*st, "invalid_request", "expected a Bearer token");
    }
    std::string token(auth->substr(7));
    auto [ec, claims] = co_await st->keys->verify(token, st->vo, oidc::net::use_nothrow_awaitable);
    if (ec) {
        ++st->invalid_token;
        // The message of an oidc::errc never contains the token.
        co_return unauthorized(*st, "invalid_token", ec.message());
    }
    {
        std::lock_guard<std::mutex> lock(st->mu);
        if (st->revoked_jti.count(std::string(claims.jti()))) {
            ++st->revoked;
            co_return unauthorized(*st, "invalid_token", "the token was revoked");
        }
    }
    ++st->ok;
    std::string sub(claims.sub());
    std::string body = "{\"account\":\"" + account + "\",\"subject\":\"" + quoted_safe(sub) +
                       "\",\"dossiers\":[{\"id\":\"D-2024-001\",\"title\":\"Demande de "
                       "subvention\",\"status\":\"en cours\"},{\"id\":\"D-2024-002\",\"title\":"
                       "\"Declaration annuelle\",\"status\":\"valide\"}]}";
    co_return json_response(200, "OK", std::move(body));
}

// ---- a minimal HTTP/1.1 server connection (bounded sizes and times) -------------------

constexpr std::size_t max_head = 16 * 1024;
constexpr std::size_t max_body = 16 * 1024;
constexpr auto handshake_timeout = std::chrono::seconds(10);
constexpr auto idle_timeout = std::chrono::seconds(30);

bool parse_head(std::string_view head, oidc::http::request& req, std::size_t& content_length,
                bool& keep_alive) {
    auto eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1)
        return false;
    auto method = line.substr(0, sp1);
    if (method == "GET")
        req.method = oidc::http::verb::get;
    else if (method == "POST")
        req.method = oidc::http::verb::post;
    else if (method == "HEAD")
        req.method = oidc::http::verb::head;
    else if (method == "PUT")
        req.method = oidc::http::verb::put;
    else if (method == "DELETE")
        req.method = oidc::http::verb::delete_;
    else
        return false;
    req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    auto version = line.substr(sp2 + 1);
    if (req.target.empty() || req.target[0] != '/' || version.substr(0, 7) != "HTTP/1.")
        return false;
    keep_alive = version == "HTTP/1.1";
    content_length = 0;
    std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
    while (!rest.empty()) {
        eol = rest.find("\r\n");
        std::string_view h = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
        if (h.empty())
            break;
        auto colon = h.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return false;
        auto name = h.substr(0, colon);
        auto value = h.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        if (oidc::http::iequals(name, "Transfer-Encoding"))
            return false; // not needed by this API
        if (oidc::http::iequals(name, "Content-Length")) {
            if (value.empty() || value.size() > 6)
                return false;
            content_length = 0;
            for (char ch : value) {
                if (ch < '0' || ch > '9')
                    return false;
                content_length = content_length * 10 + static_cast<std::size_t>(ch - '0');
            }
        }
        if (oidc::http::iequals(name, "Connection")) {
            if (oidc::http::iequals(value, "close"))
                keep_alive = false;
            else if (oidc::http::iequals(value, "keep-alive"))
                keep_alive = true;
        }
        req.headers.add(name, value);
    }
    return true;
}

std::string serialize(const oidc::http::response& r, bool keep_alive) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + r.reason + "\r\n";
    for (const auto& f : r.headers)
        out += f.name + ": " + f.value + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    out += r.body;
    return out;
}

// Closes the socket when the deadline passes: every read and write of the connection is
// bounded by it.
asio::awaitable<void> watchdog(std::shared_ptr<tls_stream> s,
                               std::shared_ptr<asio::steady_timer> deadline) {
    while (s->lowest_layer().is_open()) {
        co_await deadline->async_wait(oidc::net::use_nothrow_awaitable);
        if (deadline->expiry() <= std::chrono::steady_clock::now()) {
            std::error_code ignored;
            s->lowest_layer().close(ignored);
            co_return;
        }
    }
}

asio::awaitable<void> serve(std::shared_ptr<api_state> st, std::shared_ptr<tls_stream> s) {
    auto ex = co_await asio::this_coro::executor;
    auto deadline = std::make_shared<asio::steady_timer>(ex);
    deadline->expires_after(handshake_timeout);
    asio::co_spawn(ex, watchdog(s, deadline), asio::detached);
    struct closer {
        std::shared_ptr<tls_stream> s;
        std::shared_ptr<asio::steady_timer> d;
        ~closer() {
            std::error_code ignored;
            s->lowest_layer().close(ignored);
            d->cancel();
        }
    } on_exit{s, deadline};

    std::error_code ec;
    std::tie(ec) = co_await s->async_handshake(asio::ssl::stream_base::server,
                                               oidc::net::use_nothrow_awaitable);
    if (ec)
        co_return;
    auto peer = s->lowest_layer().remote_endpoint(ec);
    const bool loopback_peer = !ec && peer.address().is_loopback();
    asio::streambuf buf(max_head + max_body);
    for (;;) {
        deadline->expires_after(idle_timeout);
        std::size_t n = 0;
        std::tie(ec, n) =
            co_await asio::async_read_until(*s, buf, "\r\n\r\n", oidc::net::use_nothrow_awaitable);
        if (ec || n > max_head)
            co_return; // closed, timed out, or a head too large (buffer limit)
        std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
        buf.consume(n);
        oidc::http::request req;
        std::size_t length = 0;
        bool keep_alive = true;
        if (!parse_head(head, req, length, keep_alive) || length > max_body) {
            auto bad =
                serialize(json_response(400, "Bad Request", "{\"error\":\"bad_request\"}"), false);
            co_await asio::async_write(*s, asio::buffer(bad), oidc::net::use_nothrow_awaitable);
            co_return;
        }
        if (buf.size() < length) {
            std::tie(ec, n) =
                co_await asio::async_read(*s, buf, asio::transfer_exactly(length - buf.size()),
                                          oidc::net::use_nothrow_awaitable);
            if (ec)
                co_return;
        }
        req.body.assign(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + length);
        buf.consume(length);
        auto resp = co_await handle(st, req, loopback_peer);
        auto out = serialize(resp, keep_alive);
        std::tie(ec, n) =
            co_await asio::async_write(*s, asio::buffer(out), oidc::net::use_nothrow_awaitable);
        if (ec || !keep_alive)
            co_return;
    }
}

asio::awaitable<void> listen(std::shared_ptr<api_state> st, tcp::acceptor& acceptor,
                             asio::ssl::context& tls) {
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        auto [ec, sock] = co_await acceptor.async_accept(oidc::net::use_nothrow_awaitable);
        if (ec == asio::error::operation_aborted)
            co_return;
        if (ec)
            continue;
        auto s = std::make_shared<tls_stream>(std::move(sock), tls);
        asio::co_spawn(ex, serve(st, std::move(s)), asio::detached);
    }
}

} // namespace

int main(int argc, char** argv) {
    settings cfg;
    if (!read_settings(argc, argv, cfg))
        return 2;
    try {
        asio::io_context io;
        auto st = std::make_shared<api_state>();
        st->cfg = cfg;

        // The token checks (RFC 9068 access-token profile: typ at+jwt, iss, aud, exp).
        st->vo.kind = oidc::jose::validation_options::profile::access_token;
        st->vo.issuer = cfg.issuer;
        st->vo.audiences = {cfg.audience};
        st->vo.algorithms.clear();
        std::string_view algs = cfg.algs;
        while (!algs.empty()) {
            auto comma = algs.find(',');
            auto name = algs.substr(0, comma);
            algs = comma == std::string_view::npos ? std::string_view{} : algs.substr(comma + 1);
            auto a = oidc::jose::alg_from_string(name);
            if (!a || *a == oidc::jose::alg::none) {
                std::cerr << "resource_server: unknown algorithm " << name << "\n";
                return 2;
            }
            st->vo.algorithms.push_back(*a);
        }

        // The provider's keys, cached (Cache-Control), refetched once for an unknown kid.
        oidc::jwks_cache_options ko;
        ko.url = cfg.jwks_url;
        ko.http = cfg.http; // CA file, TLS settings
        st->keys = std::make_unique<oidc::jwks_cache>(io.get_executor(), ko);

        asio::ssl::context tls(asio::ssl::context::tls_server);
        tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
        tls.use_certificate_chain_file(cfg.cert);
        tls.use_private_key_file(cfg.key, asio::ssl::context::pem);

        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), cfg.port));
        const auto port = acceptor.local_endpoint().port();
        std::cout << "api: listening on https://127.0.0.1:" << port << "\n"
                  << "api: tokens checked against " << cfg.jwks_url << "\n"
                  << "api: issuer " << cfg.issuer << ", audience " << cfg.audience
                  << ", algorithms " << cfg.algs << std::endl;
        if (!cfg.port_file.empty()) {
            std::string tmp = cfg.port_file + ".tmp";
            std::ofstream(tmp) << port << "\n";
            std::rename(tmp.c_str(), cfg.port_file.c_str());
        }

        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](std::error_code, int) {
            std::cout << "api: stopping (" << st->ok << " answered, "
                      << st->no_token + st->invalid_token + st->revoked << " refused)" << std::endl;
            io.stop();
        });
        asio::co_spawn(io, listen(st, acceptor, tls), asio::detached);
        io.run();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "resource_server: " << e.what() << "\n";
        return 1;
    }
}
