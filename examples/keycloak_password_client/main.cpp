// asio-oidc example: keycloak_password_client (seed 000).
//
// A service logs in with the password grant of the public client `ea-api-edge` at a
// Keycloak-style token URL (`/auth/realms/<realm>/protocol/openid-connect/token`, given
// directly: no discovery), shows the access token's claims (verified through the keys
// endpoint), then lists `GET /v4/account/<id>/dossiers` on the resource_server example through
// an oidc::basic_session: many concurrent calls share one token; a token the API revokes is
// replaced and the call replayed; after the access token expires exactly one refresh serves
// every caller.
//
// Configuration: flags, else environment, else the provider.env file of the local test
// provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help for the list.
#include <oidc/client.hpp>
#include <oidc/jwks_cache.hpp>
#include <oidc/session.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace {

// ---- configuration ----------------------------------------------------------------------

std::map<std::string, std::string> read_env_file(const std::string& path) {
    std::map<std::string, std::string> m;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos && line[0] != '#')
            m[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return m;
}

std::string read_secret_file(const std::string& path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s); // first line, without its newline
    return s;
}

struct config {
    std::string issuer, token_endpoint, jwks_url, client_id = "ea-api-edge";
    std::string username, password, scope, cafile, audience = "eat-api";
    std::string api = "https://127.0.0.1:8443", account = "42";
    int concurrency = 50;
    int max_wait_s = 90; ///< wait past the access token's expiry when it comes within this
};

const char* usage =
    "usage: keycloak_password_client [--provider-env FILE] [--issuer URL]\n"
    "         [--token-endpoint URL] [--jwks-url URL] [--client-id ID] [--username U]\n"
    "         [--password-file F] [--scope S] [--cafile PEM] [--audience AUD]\n"
    "         [--api https://127.0.0.1:PORT] [--account ID] [--concurrency N] [--max-wait S]\n"
    "environment: OIDC_TEST_ENV (provider.env), OIDC_ISSUER, OIDC_TOKEN_ENDPOINT,\n"
    "             OIDC_JWKS_URL, OIDC_CLIENT_ID, OIDC_USERNAME, OIDC_PASSWORD_FILE,\n"
    "             OIDC_CAFILE, OIDC_AUDIENCE, API_BASE_URL\n";

bool parse_args(int argc, char** argv, config& c) {
    std::map<std::string, std::string> flags;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h" || a.rfind("--", 0) != 0 || i + 1 >= argc) {
            std::cerr << usage;
            return false;
        }
        flags[a.substr(2)] = argv[++i];
    }
    auto env = [](const char* n) -> std::string {
        const char* v = std::getenv(n);
        return v ? v : "";
    };
    std::string env_file =
        flags.count("provider-env") ? flags["provider-env"] : env("OIDC_TEST_ENV");
    std::map<std::string, std::string> p;
    if (!env_file.empty())
        p = read_env_file(env_file);
    auto pick = [&](const char* flag, const char* var, std::string fallback) {
        if (flags.count(flag))
            return flags[flag];
        if (auto v = env(var); !v.empty())
            return v;
        return fallback;
    };
    c.issuer = pick("issuer", "OIDC_ISSUER", p["OIDC_TEST_ISSUER"]);
    c.token_endpoint = pick("token-endpoint", "OIDC_TOKEN_ENDPOINT", "");
    c.jwks_url = pick("jwks-url", "OIDC_JWKS_URL", "");
    c.client_id =
        pick("client-id", "OIDC_CLIENT_ID",
             p.count("OIDC_TEST_PUBLIC_CLIENT_ID") ? p["OIDC_TEST_PUBLIC_CLIENT_ID"] : c.client_id);
    c.username = pick("username", "OIDC_USERNAME", p["OIDC_TEST_USER"]);
    if (auto f = pick("password-file", "OIDC_PASSWORD_FILE", ""); !f.empty())
        c.password = read_secret_file(f);
    else
        c.password = p["OIDC_TEST_PASSWORD"]; // the local test provider's demo user
    c.scope = pick("scope", "OIDC_SCOPE", "");
    c.cafile = pick("cafile", "OIDC_CAFILE", p["OIDC_TEST_CA"]);
    c.audience = pick("audience", "OIDC_AUDIENCE",
                      p.count("OIDC_TEST_AUDIENCE") ? p["OIDC_TEST_AUDIENCE"] : c.audience);
    c.api = pick("api", "API_BASE_URL", c.api);
    c.account = pick("account", "API_ACCOUNT", c.account);
    c.concurrency = std::stoi(pick("concurrency", "API_CONCURRENCY", "50"));
    c.max_wait_s = std::stoi(pick("max-wait", "OIDC_MAX_WAIT", "90"));
    if (c.issuer.empty() || c.username.empty() || c.password.empty()) {
        std::cerr << "keycloak_password_client: need an issuer, a user and a password\n" << usage;
        return false;
    }
    // The Keycloak layout: every endpoint under the realm's issuer URL.
    if (c.token_endpoint.empty())
        c.token_endpoint = c.issuer + "/protocol/openid-connect/token";
    if (c.jwks_url.empty())
        c.jwks_url = c.issuer + "/protocol/openid-connect/certs";
    if (c.concurrency < 1 || c.concurrency > 10000)
        c.concurrency = 50;
    return true;
}

// Never print a token: its first characters and its size are enough to follow it.
std::string preview(std::string_view secret) {
    return std::string(secret.substr(0, 10)) + "...(" + std::to_string(secret.size()) + " bytes)";
}

std::string seconds_from_now(std::optional<oidc::clock::time_point> t) {
    if (!t)
        return "no expiry given";
    auto s = std::chrono::duration_cast<std::chrono::seconds>(*t - oidc::clock::now()).count();
    return "expires in " + std::to_string(s) + " s";
}

// ---- the token source of the session: the password grant, then refresh_token --------------

/// What oidc::basic_session needs from a token source: the executor, whether the grant needs
/// a person, the HTTP client for call(), and one fetch (the original grant or a refresh).
struct password_source {
    std::shared_ptr<oidc::client> client;
    oidc::grant grant;

    asio::any_io_executor get_executor() const { return client->get_executor(); }
    bool needs_user() const { return oidc::needs_user(grant); }
    oidc::http::client& http() { return client->http(); }

    template <class Handler>
    void async_fetch(oidc::fetch_kind kind, const oidc::token_set& current, Handler&& handler) {
        auto diag = std::make_shared<oidc::diagnostics>();
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto ex = asio::get_associated_executor(handler, get_executor());
        auto done = asio::bind_cancellation_slot(
            slot, asio::bind_executor(ex, [h = std::forward<Handler>(handler),
                                           diag](std::error_code ec, oidc::token_set t) mutable {
                std::move(h)(ec, std::move(t), std::move(*diag));
            }));
        if (kind == oidc::fetch_kind::refresh)
            client->refresh(current, *diag, std::move(done));
        else
            client->get_token(grant, *diag, std::move(done));
    }
};

struct counters {
    std::atomic<int> acquired{0}, refreshed{0}, invalidated{0}, failed{0};
};

struct batch_result {
    int ok = 0, failed = 0;
    long long ms = 0; ///< until the last answer
    std::string first_body;
};

// `n` concurrent calls through the session; waits for all of them (bounded).
asio::awaitable<batch_result> call_many(oidc::basic_session<password_source>& session,
                                        std::string url, int n) {
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

asio::awaitable<int> run(config cfg) {
    auto ex = co_await asio::this_coro::executor;

    // 1. The client of the seed: a public client and a bare Keycloak token URL.
    oidc::client_options opts;
    opts.issuer = cfg.issuer;
    opts.metadata = oidc::provider_metadata{};
    opts.metadata->issuer = cfg.issuer;
    opts.metadata->token_endpoint = cfg.token_endpoint; // .../protocol/openid-connect/token
    opts.client_id = cfg.client_id;                     // "ea-api-edge"
    opts.auth = oidc::auth_none{};                      // public client: no secret
    opts.http.ca_file = cfg.cafile;
    auto client = std::make_shared<oidc::client>(ex, opts);

    std::cout << "== 1. Password grant (seed 000)\n"
              << "POST " << cfg.token_endpoint << "\n"
              << "  grant_type=password client_id=" << cfg.client_id << " username=" << cfg.username
              << " password=(hidden)\n";
    oidc::grant grant = oidc::password_grant{cfg.username, cfg.password, cfg.scope, {}};
    oidc::diagnostics diag;
    auto [ec, tokens] = co_await client->get_token(grant, diag, oidc::net::use_nothrow_awaitable);
    if (ec) {
        std::cout << "token request failed: " << ec.message();
        if (!diag.error.empty())
            std::cout << " (server said: " << diag.error << ")";
        std::cout << "\n";
        co_return 1;
    }
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
    oidc::jwks_cache keys(*client, ko); // shares the client's HTTP client and TLS settings
    oidc::jose::validation_options vo;
    vo.kind = oidc::jose::validation_options::profile::access_token;
    vo.issuer = cfg.issuer;
    vo.audiences = {cfg.audience};
    vo.algorithms = {oidc::jose::alg::RS256, oidc::jose::alg::PS256, oidc::jose::alg::ES256,
                     oidc::jose::alg::ES384, oidc::jose::alg::ES512, oidc::jose::alg::EdDSA};
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

    // 3. A session: one shared token state for every call of this service.
    counters count;
    oidc::session_options so;
    so.initial = tokens;                 // start from the token we already have
    so.margin = std::chrono::seconds(2); // renew 2 s before expiry (the demo's tokens are short)
    so.margin_fraction = 0.0;
    so.on_event = [&count](const oidc::session_event& e) {
        switch (e.kind) {
        case oidc::session_event_kind::acquired:
            ++count.acquired;
            std::cout << "  [session] new token from the password grant\n";
            break;
        case oidc::session_event_kind::refreshed:
            ++count.refreshed;
            std::cout << "  [session] token refreshed (" << e.waiters << " callers waited), "
                      << seconds_from_now(e.expires_at) << "\n";
            break;
        case oidc::session_event_kind::invalidated:
            ++count.invalidated;
            std::cout << "  [session] the API rejected the token: dropped\n";
            break;
        case oidc::session_event_kind::refresh_failed:
            ++count.failed;
            std::cout << "  [session] token request failed: " << e.error.message() << "\n";
            break;
        default:
            break;
        }
    };
    oidc::basic_session<password_source> session(password_source{client, grant}, so);

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
                co_await client->http().async_send(std::move(rv), oidc::net::use_nothrow_awaitable);
            std::cout << "  POST " << cfg.api << "/admin/revoke -> "
                      << (rec ? rec.message() : std::to_string(rresp.status)) << "\n";
            auto r2 = co_await call_many(session, url, 1);
            total_ok += r2.ok;
            total_failed += r2.failed;
            replayed = r2.ok == 1 && count.invalidated >= 1;
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
    const int refreshes_before = count.refreshed + count.acquired;
    if (waited) {
        auto r3 = co_await call_many(session, url, cfg.concurrency);
        total_ok += r3.ok;
        total_failed += r3.failed;
        std::cout << "  " << r3.ok << " x 200, " << r3.failed << " failed, in " << r3.ms << " ms, "
                  << (count.refreshed + count.acquired - refreshes_before)
                  << " token request(s) for all of them\n";
    }

    std::cout << "\n== Summary\n"
              << "  API calls: " << total_ok << " ok, " << total_failed << " failed\n"
              << "  token requests by the session: " << count.refreshed << " refresh, "
              << count.acquired << " password grant, " << count.failed << " failed\n"
              << "  tokens dropped after a 401: " << count.invalidated << "\n";
    const bool ok =
        total_failed == 0 && total_ok > 0 && (!waited || count.refreshed >= 1) && replayed;
    std::cout << (ok ? "RESULT: OK\n" : "RESULT: FAILED\n");
    co_return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    config cfg;
    if (!parse_args(argc, argv, cfg))
        return 2;
    asio::io_context io;
    int rc = 1;
    asio::co_spawn(io, run(cfg), [&](std::exception_ptr e, int r) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "keycloak_password_client: " << x.what() << "\n";
            }
            rc = 1;
        } else {
            rc = r;
        }
        io.stop(); // the session's and the pool's timers need not run down
    });
    io.run();
    return rc;
}
