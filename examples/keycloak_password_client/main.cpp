// asio-oidc example: keycloak_password_client (seed 000).
//
// A service logs in with the password grant of the public client `ea-api-edge` at a
// Keycloak-style token URL (`/auth/realms/<realm>/protocol/openid-connect/token`, given
// directly: no discovery), shows the access token's claims (verified through the keys
// endpoint), then lists `GET /v4/account/<id>/dossiers` on the resource_server example through
// an oidc::session: the session runs the password grant once, many concurrent calls share its
// token, a token the API revokes is replaced and the call replayed, and after the access token
// expires exactly one refresh serves every caller. No token or password is ever printed.
//
// Configuration (examples/common/config.hpp): flags, else environment, else the provider.env
// file of the local test provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help.
#include <oidc/client.hpp>
#include <oidc/jwks_cache.hpp>
#include <oidc/session.hpp>

#include "common/config.hpp"
#include "common/run.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace {

using oidc_example::preview;

// ---- configuration ----------------------------------------------------------------------

struct settings : oidc_example::client_settings {
    std::string token_endpoint, jwks_url, username, password, scope;
    std::string audience, api, account;
    int concurrency = 50;
    int max_wait_s = 90; ///< wait past the access token's expiry when it comes within this
};

bool read_settings(int argc, char** argv, settings& c) {
    oidc_example::config cfg("keycloak_password_client", argc, argv);
    cfg.read_client(c, oidc_example::public_client); // no secret
    // The Keycloak layout: every endpoint under the realm's issuer URL.
    const std::string realm = c.issuer + "/protocol/openid-connect";
    c.token_endpoint = cfg.url("token-endpoint", "OIDC_TOKEN_ENDPOINT", {}, realm + "/token");
    c.jwks_url = cfg.url("jwks-url", "OIDC_JWKS_URL", {}, realm + "/certs");
    c.username = cfg.get("username", "OIDC_USERNAME", "OIDC_TEST_USER");
    c.password = cfg.secret("password-file", "OIDC_PASSWORD_FILE", "OIDC_TEST_PASSWORD");
    c.scope = cfg.get("scope", "OIDC_SCOPE");
    c.audience = cfg.get("audience", "OIDC_AUDIENCE", "OIDC_TEST_AUDIENCE", "eat-api");
    c.api = cfg.url("api", "API_BASE_URL", {}, "https://127.0.0.1:8443");
    c.account = cfg.get("account", "API_ACCOUNT", {}, "42");
    c.concurrency = static_cast<int>(cfg.number("concurrency", "API_CONCURRENCY", 50, 1, 10000));
    c.max_wait_s = static_cast<int>(cfg.number("max-wait", "OIDC_MAX_WAIT", 90, 0, 3600));
    cfg.require(!c.username.empty() && !c.password.empty(), "need a user and a password");
    return cfg.ok();
}

std::string seconds_from_now(std::optional<oidc::clock::time_point> t) {
    if (!t)
        return "no expiry given";
    auto s = std::chrono::duration_cast<std::chrono::seconds>(*t - oidc::clock::now()).count();
    return "expires in " + std::to_string(s) + " s";
}

struct batch_result {
    int ok = 0, failed = 0;
    long long ms = 0; ///< until the last answer
    std::string first_body;
};

// `n` concurrent calls through the session; waits for all of them (bounded).
asio::awaitable<batch_result> call_many(oidc::session& session, std::string url, int n) {
    auto ex = co_await asio::this_coro::executor;
    const auto t0 = std::chrono::steady_clock::now();
    auto result = std::make_shared<batch_result>();
    auto left = std::make_shared<int>(n);
    auto all_done = std::make_shared<asio::steady_timer>(ex, std::chrono::seconds(60));
    for (int i = 0; i < n; ++i) {
        oidc::http::request req;
        req.method = oidc::http::verb::get;
        req.target = url;
        req.headers.set("Accept", "application/json");
        session.call(std::move(req), [result, left, all_done](std::error_code ec,
                                                              oidc::http::response resp) {
            if (!ec && resp.status == 200) {
                if (result->ok++ == 0)
                    result->first_body = resp.body;
            } else {
                if (result->failed++ == 0)
                    std::cout << "  call failed: "
                              << (ec ? ec.message() : "HTTP " + std::to_string(resp.status))
                              << "\n";
            }
            if (--*left == 0)
                all_done->cancel();
        });
    }
    co_await all_done->async_wait(oidc::net::use_nothrow_awaitable);
    if (*left != 0)
        result->failed += *left; // not answered within the bound
    result->ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    co_return *result;
}

asio::awaitable<int> run(settings cfg) {
    auto ex = co_await asio::this_coro::executor;

    // 1. The client of the seed: a public client and a bare Keycloak token URL.
    oidc::client_options opts;
    opts.issuer = cfg.issuer;
    opts.metadata = oidc::provider_metadata{};
    opts.metadata->issuer = cfg.issuer;
    opts.metadata->token_endpoint = cfg.token_endpoint; // .../protocol/openid-connect/token
    opts.client_id = cfg.client_id;                     // "ea-api-edge"
    opts.auth = oidc::auth_none{};                      // public client: no secret
    opts.http = cfg.http;                               // CA file, TLS settings
    oidc::client client(ex, opts);

    // A session: one shared token state for every call of this service. It runs the password
    // grant for the first token and renews it with the refresh token (single flight).
    using kind = oidc::session_event_kind;
    std::map<kind, int> count; // the events run on this thread (one io_context thread)
    oidc::session_options so;
    so.margin = std::chrono::seconds(2); // renew 2 s before expiry (the demo's tokens are short)
    so.margin_fraction = 0.0;
    so.on_event = [&count](const oidc::session_event& e) {
        ++count[e.kind];
        if (e.kind == kind::acquired)
            std::cout << "  [session] new token from the password grant\n";
        else if (e.kind == kind::refreshed)
            std::cout << "  [session] token refreshed (" << e.waiters << " callers waited), "
                      << seconds_from_now(e.expires_at) << "\n";
        else if (e.kind == kind::invalidated)
            std::cout << "  [session] the API rejected the token: dropped\n";
        else if (e.kind == kind::refresh_failed)
            std::cout << "  [session] token request failed: " << e.error.message() << "\n";
    };
    oidc::grant grant = oidc::password_grant{cfg.username, cfg.password, cfg.scope, {}};
    oidc::session session({client, grant}, so);

    std::cout << "== 1. Password grant (seed 000)\n"
              << "POST " << cfg.token_endpoint << "\n"
              << "  grant_type=password client_id=" << cfg.client_id << " username=" << cfg.username
              << " password=(hidden)\n";
    oidc::diagnostics diag;
    auto [ec, first] = co_await session.token(diag, oidc::net::use_nothrow_awaitable);
    if (ec) {
        std::cout << "token request failed: " << ec.message();
        if (!diag.error.empty())
            std::cout << " (server said: " << diag.error << ")";
        std::cout << "\n";
        co_return 1;
    }
    const oidc::token_set& tokens = first.tokens();
    std::cout << "  access_token  " << preview(tokens.access_token) << ", "
              << seconds_from_now(tokens.expires_at) << "\n"
              << "  refresh_token "
              << (tokens.refresh_token.empty() ? std::string("none")
                                               : preview(tokens.refresh_token) + ", " +
                                                     seconds_from_now(tokens.refresh_expires_at))
              << "\n";

    // 2. The access token's claims, verified against the keys endpoint as the API will.
    std::cout << "\n== 2. Access token claims (verified with " << cfg.jwks_url << ")\n";
    oidc::jwks_cache_options ko;
    ko.url = cfg.jwks_url;
    oidc::jwks_cache keys(client, ko); // shares the client's HTTP client and TLS settings
    auto vo = oidc_example::access_token_checks(cfg.issuer, cfg.audience);
    auto [vec, claims] =
        co_await keys.verify(tokens.access_token, vo, oidc::net::use_nothrow_awaitable);
    if (vec) {
        std::cout << "  not a valid JWT for " << cfg.audience << ": " << vec.message() << "\n";
    } else {
        auto aud = claims.aud();
        std::cout << "  iss                " << claims.iss() << "\n"
                  << "  sub                " << claims.sub() << "\n"
                  << "  aud                " << (aud.empty() ? "" : aud.front()) << "\n"
                  << "  azp                " << claims.azp() << "\n"
                  << "  preferred_username " << claims.preferred_username() << "\n"
                  << "  email              " << claims.email() << "\n"
                  << "  scope              " << claims.scope() << "\n"
                  << "  exp - iat          " << claims.exp().value_or(0) - claims.iat().value_or(0)
                  << " s\n";
    }

    const std::string url = cfg.api + "/v4/account/" + cfg.account + "/dossiers";
    int total_ok = 0, total_failed = 0;
    std::cout << "\n== 3. " << cfg.concurrency << " concurrent calls: GET " << url << "\n";
    auto r1 = co_await call_many(session, url, cfg.concurrency);
    total_ok += r1.ok;
    total_failed += r1.failed;
    std::cout << "  " << r1.ok << " x 200, " << r1.failed << " failed, in " << r1.ms << " ms\n"
              << "  first answer: " << r1.first_body.substr(0, 300) << "\n";

    // 4. The API revokes the token (its test hook): the session drops it, gets a new one and
    // replays the call once.
    std::cout << "\n== 4. The API revokes the current token; one call shows the replay\n";
    bool replayed = true; // unless the replay is tried and does not happen
    {
        oidc::jose::jws parsed;
        oidc::jose::claims c;
        auto [tec, current] = co_await session.token(oidc::net::use_nothrow_awaitable);
        if (!tec && !oidc::jose::jws::parse(current.value(), parsed) &&
            !oidc::jose::claims::parse(parsed.payload(), c) && !c.jti().empty()) {
            oidc::http::request rv;
            rv.method = oidc::http::verb::post;
            rv.target = cfg.api + "/admin/revoke";
            rv.headers.set("Content-Type", "application/x-www-form-urlencoded");
            rv.body = "jti=" + std::string(c.jti());
            auto [rec, rresp] =
                co_await client.http().async_send(std::move(rv), oidc::net::use_nothrow_awaitable);
            std::cout << "  POST " << cfg.api << "/admin/revoke -> "
                      << (rec ? rec.message() : std::to_string(rresp.status)) << "\n";
            auto r2 = co_await call_many(session, url, 1);
            total_ok += r2.ok;
            total_failed += r2.failed;
            replayed = r2.ok == 1 && count[kind::invalidated] >= 1;
            std::cout << "  the call: "
                      << (replayed ? "200 after the replay"
                          : r2.ok  ? "200 (no 401: the token had been renewed already)"
                                   : "failed")
                      << "\n";
        } else {
            std::cout << "  (skipped: the access token is not a JWT with a jti)\n";
            replayed = true;
        }
    }

    // 5. Past the access token's expiry: the next calls share exactly one refresh.
    std::cout << "\n== 5. Calls after the access token expired\n";
    bool waited = false;
    if (auto [tec, cur] = co_await session.token(oidc::net::use_nothrow_awaitable);
        !tec && cur.expires_at()) {
        auto wait = *cur.expires_at() - oidc::clock::now() + std::chrono::seconds(1);
        if (wait < std::chrono::seconds(cfg.max_wait_s)) {
            std::cout << "  waiting "
                      << std::chrono::duration_cast<std::chrono::seconds>(wait).count()
                      << " s for the access token to expire...\n";
            asio::steady_timer t(ex, wait);
            co_await t.async_wait(oidc::net::use_nothrow_awaitable);
            waited = true;
        } else {
            std::cout << "  (skipped: the token lives longer than --max-wait " << cfg.max_wait_s
                      << " s)\n";
        }
    }
    const int refreshes_before = count[kind::refreshed] + count[kind::acquired];
    if (waited) {
        auto r3 = co_await call_many(session, url, cfg.concurrency);
        total_ok += r3.ok;
        total_failed += r3.failed;
        std::cout << "  " << r3.ok << " x 200, " << r3.failed << " failed, in " << r3.ms << " ms, "
                  << (count[kind::refreshed] + count[kind::acquired] - refreshes_before)
                  << " token request(s) for all of them\n";
    }

    std::cout << "\n== Summary\n"
              << "  API calls: " << total_ok << " ok, " << total_failed << " failed\n"
              << "  token requests by the session: " << count[kind::refreshed] << " refresh, "
              << count[kind::acquired] << " password grant, " << count[kind::refresh_failed]
              << " failed\n"
              << "  tokens dropped after a 401: " << count[kind::invalidated] << "\n";
    const bool ok =
        total_failed == 0 && total_ok > 0 && (!waited || count[kind::refreshed] >= 1) && replayed;
    std::cout << (ok ? "RESULT: OK\n" : "RESULT: FAILED\n");
    co_return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    return oidc_example::example_main(argc, argv, "keycloak_password_client", read_settings, run);
}
