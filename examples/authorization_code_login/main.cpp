// asio-oidc example: authorization_code_login (seed 004).
//
// The browser login of a web application: builds the authorization URL (PKCE S256, state,
// nonce), listens on a loopback redirect URI (http://127.0.0.1:PORT/callback), and waits for
// the browser to come back with the code. handle_callback() checks the state, exchanges the
// code with the PKCE verifier and validates the ID token (signature, iss, aud, exp, nonce,
// at_hash); then userinfo, and the RP-initiated logout URL with post_logout_redirect_uri.
//
// Open the printed URL in a browser, or pass --headless: a small "browser" made of the
// library's own HTTP client logs in through the local test provider's login form (cookies,
// redirects) and delivers the callback, as a person would.
//
// Configuration: flags, else environment, else the provider.env file of the local test
// provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help for the list.
#include <oidc/client.hpp>
#include <oidc/http/url.hpp>

#include "common/config.hpp"
#include "common/run.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace {

using asio::ip::tcp;
using oidc_example::preview;

// ---- configuration ----------------------------------------------------------------------

struct settings : oidc_example::client_settings {
    std::string scope, post_logout_uri;
    unsigned short port = 0;
    bool headless = false;
    std::string username, password; ///< --headless only
    int wait_s = 300;
};

bool read_settings(int argc, char** argv, settings& c) {
    oidc_example::config cfg("authorization_code_login", argc, argv, {"headless"});
    c.headless = cfg.has("headless");
    cfg.read_client(c, oidc_example::web_client);
    c.scope = cfg.get("scope", "OIDC_SCOPE", {}, "openid profile email");
    // Where the provider sends the browser after logout: a URL of this application, which
    // may be a loopback http:// one (it is only printed, never fetched).
    c.post_logout_uri = cfg.get("post-logout-uri", "OIDC_POST_LOGOUT_URI",
                                "OIDC_TEST_WEB_POST_LOGOUT_URI", "http://127.0.0.1/logged-out");
    c.port = static_cast<unsigned short>(cfg.number("port", "OIDC_CALLBACK_PORT", 0, 0, 65535));
    c.wait_s =
        static_cast<int>(cfg.number("wait", "OIDC_CALLBACK_WAIT", c.headless ? 60 : 300, 1, 3600));
    c.username = cfg.get("username", "OIDC_USERNAME", "OIDC_TEST_USER");
    c.password = cfg.secret("password-file", "OIDC_PASSWORD_FILE", "OIDC_TEST_PASSWORD");
    cfg.require(!c.headless || (!c.username.empty() && !c.password.empty()),
                "--headless needs a user and a password");
    return cfg.ok();
}

// A URL for printing: the value of `param` (a token) shortened.
std::string redact_param(std::string url, std::string_view param) {
    auto pos = url.find(std::string(param) + "=");
    if (pos == std::string::npos)
        return url;
    pos += param.size() + 1;
    auto end = url.find('&', pos);
    auto len = (end == std::string::npos ? url.size() : end) - pos;
    return url.replace(pos, len, preview(std::string_view(url).substr(pos, len)));
}

// ---- the loopback redirect URI: one request to /callback --------------------------------

asio::awaitable<std::string> receive_callback(tcp::acceptor& acceptor, std::string base) {
    for (;;) {
        auto [ec, sock] = co_await acceptor.async_accept(oidc::net::use_nothrow_awaitable);
        if (ec)
            throw std::system_error(ec);
        asio::streambuf buf(16 * 1024); // bounded request head
        auto [rec, n] = co_await asio::async_read_until(sock, buf, "\r\n\r\n",
                                                        oidc::net::use_nothrow_awaitable);
        if (rec)
            continue;
        std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
        auto line = head.substr(0, head.find("\r\n"));
        auto sp1 = line.find(' '), sp2 = line.rfind(' ');
        std::string target =
            sp1 == std::string::npos || sp2 <= sp1 ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
        const bool is_callback = target.rfind("/callback?", 0) == 0 || target == "/callback";
        std::string body = is_callback ? "<html><body>Logged in: you may close this window."
                                         "</body></html>\n"
                                       : "not found\n";
        std::string resp =
            std::string(is_callback ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
            "\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\nConnection: close\r\n\r\n" + body;
        co_await asio::async_write(sock, asio::buffer(resp), oidc::net::use_nothrow_awaitable);
        if (is_callback)
            co_return base + target; // the full redirect URL, as handle_callback() wants it
    }
}

// ---- the headless browser (local test provider only) ------------------------------------

struct cookie_jar {
    std::map<std::string, std::string> cookies; // latest value per name (paths ignored)
    void store(const oidc::http::response& r) {
        for (auto sc : r.headers.get_all("Set-Cookie")) {
            auto pair = sc.substr(0, sc.find(';'));
            auto eq = pair.find('=');
            if (eq != std::string_view::npos)
                cookies[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
        }
    }
    void apply(oidc::http::request& r) const {
        std::string c;
        for (const auto& [k, v] : cookies)
            c += (c.empty() ? "" : "; ") + k + "=" + v;
        if (!c.empty())
            r.headers.set("Cookie", c);
    }
};

std::string resolve(const std::string& origin, std::string_view location) {
    if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0)
        return std::string(location);
    return origin + std::string(location); // an absolute path on the provider's origin
}

asio::awaitable<std::error_code> headless_login(oidc::http::client http, std::string url,
                                                std::string redirect_uri, settings cfg) {
    oidc::http::url u;
    if (auto ec = oidc::http::parse_url(url, u))
        co_return ec;
    const std::string origin = u.scheme + "://" + u.host + ":" + std::to_string(u.port);
    cookie_jar jar;
    bool posted = false;
    for (int step = 0; step < 12; ++step) { // bounded: the provider needs about 6
        oidc::http::request req;
        req.target = url;
        jar.apply(req);
        if (url.rfind(redirect_uri, 0) == 0) { // the browser lands on our redirect URI
            std::cout << "  [browser] GET " << redact_param(url, "code") << "\n";
            auto [ec, resp] =
                co_await http.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
            co_return ec;
        }
        auto [ec, resp] =
            co_await http.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
        if (ec)
            co_return ec;
        jar.store(resp);
        auto location = resp.headers.get("Location");
        if (resp.status >= 300 && resp.status < 400 && location) {
            std::cout << "  [browser] " << resp.status << " -> "
                      << redact_param(resolve(origin, *location), "code").substr(0, 100) << "\n";
            url = resolve(origin, *location);
            continue;
        }
        if (resp.status == 200 && !posted && url.find("/login-actions/") != std::string::npos) {
            // The provider's login form: post the user's credentials to LOCATION/login.
            std::cout << "  [browser] login form: posting username=" << cfg.username
                      << " password=(hidden)\n";
            oidc::http::request login;
            login.method = oidc::http::verb::post;
            login.target = url + "/login";
            login.headers.set("Content-Type", "application/x-www-form-urlencoded");
            login.body =
                oidc::http::form_body({{"username", cfg.username}, {"password", cfg.password}});
            jar.apply(login);
            auto [lec, lresp] =
                co_await http.async_send(std::move(login), oidc::net::use_nothrow_awaitable);
            if (lec)
                co_return lec;
            jar.store(lresp);
            auto next = lresp.headers.get("Location");
            if (lresp.status != 303 || !next) {
                std::cout << "  [browser] login refused (HTTP " << lresp.status << ")\n";
                co_return oidc::errc::access_denied;
            }
            posted = true;
            url = resolve(origin, *next);
            continue;
        }
        std::cout << "  [browser] unexpected HTTP " << resp.status << " at " << url.substr(0, 90)
                  << "\n";
        co_return oidc::errc::http_status_unexpected;
    }
    co_return oidc::errc::http_status_unexpected;
}

asio::awaitable<int> run(settings cfg) {
    auto ex = co_await asio::this_coro::executor;

    // 1. The client: discovery, a confidential web client (client_secret_basic).
    oidc::client client(ex, cfg.client_options());
    std::cout << "== 1. Discovery: " << oidc::metadata_url(cfg.issuer) << "\n";
    auto [dec, md] = co_await client.discover(oidc::net::use_nothrow_awaitable);
    if (dec) {
        std::cout << "discovery failed: " << dec.message() << "\n";
        co_return 1;
    }
    std::cout << "  authorization_endpoint " << md.authorization_endpoint << "\n"
              << "  token_endpoint         " << md.token_endpoint << "\n"
              << "  end_session_endpoint   " << md.end_session_endpoint << "\n";

    // 2. The loopback redirect URI (RFC 8252 7.3) and the authorization request.
    tcp::acceptor acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), cfg.port));
    const std::string base = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    oidc::authorization_params params;
    params.redirect_uri = base + "/callback";
    params.scope = cfg.scope;
    oidc::authorization_request areq;
    if (!md.pushed_authorization_request_endpoint.empty()) {
        // The provider takes pushed requests (RFC 9126): the parameters go to it directly,
        // authenticated as this client; the browser URL carries only a reference to them.
        oidc::diagnostics pdiag;
        auto [pec, pushed] =
            co_await client.push_authorization(params, pdiag, oidc::net::use_nothrow_awaitable);
        if (pec) {
            std::cout << "push_authorization: " << pec.message() << " " << pdiag.error << "\n";
            co_return 1;
        }
        areq = std::move(pushed);
    } else if (auto ec = client.authorization_url(params, areq)) {
        std::cout << "authorization_url: " << ec.message() << "\n";
        co_return 1;
    }
    std::cout << "\n== 2. Authorization request (PKCE S256, state, nonce"
              << (areq.request_uri.empty() ? ")\n" : "; pushed first, RFC 9126)\n")
              << "  redirect_uri " << areq.redirect_uri << "\n"
              << "  open this URL in a browser:\n  " << areq.url << "\n";

    // 3. Wait for the browser's return (bounded), with the headless browser if asked.
    std::cout << "\n== 3. Waiting for the callback (" << cfg.wait_s << " s at most)\n";
    struct waiting { // shared with the handlers, which may run after this coroutine ends
        explicit waiting(asio::any_io_executor e) : deadline(e) {}
        std::optional<std::string> callback;
        std::error_code browser_ec;
        asio::steady_timer deadline;
    };
    auto w = std::make_shared<waiting>(ex);
    w->deadline.expires_after(std::chrono::seconds(cfg.wait_s));
    asio::co_spawn(ex, receive_callback(acceptor, base),
                   [w](std::exception_ptr e, std::string url) {
                       if (!e)
                           w->callback = std::move(url);
                       w->deadline.cancel();
                   });
    if (cfg.headless) {
        oidc::http::client_options bo = cfg.http;
        bo.allow_insecure_http = true; // the browser also visits http://127.0.0.1/callback
        oidc::http::client browser(ex, bo);
        asio::co_spawn(ex, headless_login(browser, areq.url, areq.redirect_uri, cfg),
                       [w](std::exception_ptr, std::error_code ec) {
                           w->browser_ec = ec;
                           if (ec)
                               w->deadline.cancel();
                       });
    }
    co_await w->deadline.async_wait(oidc::net::use_nothrow_awaitable);
    acceptor.close();
    if (!w->callback) {
        std::cout << "no callback received"
                  << (w->browser_ec ? " (headless login: " + w->browser_ec.message() + ")" : "")
                  << "\n";
        co_return 1;
    }
    const std::string callback = *w->callback;
    std::cout << "  callback: " << redact_param(callback, "code") << "\n";

    // 4. The code exchange and the ID token validation.
    std::cout << "\n== 4. handle_callback: state, code exchange (PKCE verifier), ID token\n";
    oidc::diagnostics diag;
    auto [cec, tokens] =
        co_await client.handle_callback(callback, areq, diag, oidc::net::use_nothrow_awaitable);
    if (cec) {
        std::cout << "  failed: " << cec.message()
                  << (diag.error.empty() ? "" : " (server said: " + diag.error + ")") << "\n";
        co_return 1;
    }
    oidc::jose::jws jws;
    oidc::jose::claims id;
    if (oidc::jose::jws::parse(tokens.id_token, jws) ||
        oidc::jose::claims::parse(jws.payload(), id)) {
        std::cout << "  unreadable ID token\n";
        co_return 1;
    }
    std::cout << "  ID token " << preview(tokens.id_token) << " valid (signature, iss, aud, exp, "
              << "nonce" << (id.at_hash().empty() ? "" : ", at_hash") << ")\n"
              << "    sub " << id.sub() << ", auth_time " << id.auth_time().value_or(0) << "\n"
              << "  access_token " << preview(tokens.access_token) << "\n"
              << "  refresh_token "
              << (tokens.refresh_token.empty() ? "none" : preview(tokens.refresh_token)) << "\n";

    // 5. userinfo with the access token; its sub must be the ID token's.
    std::cout << "\n== 5. userinfo: " << md.userinfo_endpoint << "\n";
    auto [uec, info] = co_await client.userinfo(tokens, oidc::net::use_nothrow_awaitable);
    if (uec) {
        std::cout << "  failed: " << uec.message() << "\n";
        co_return 1;
    }
    std::cout << "  " << info.json() << "\n";

    // 6. RP-initiated logout.
    std::cout << "\n== 6. Logout URL (RP-initiated logout, post_logout_redirect_uri)\n";
    auto logout = client.end_session_url(tokens.id_token, cfg.post_logout_uri, oidc::make_state());
    if (logout.empty()) {
        std::cout << "  the provider has no end_session_endpoint\n";
        co_return 1;
    }
    std::cout << "  " << redact_param(logout, "id_token_hint") << "\n";
    std::cout << "\nRESULT: OK\n";
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    return oidc_example::example_main(argc, argv, "authorization_code_login", read_settings, run);
}
