// asio-oidc example: client_credentials.
//
// Machine to machine: a confidential client authenticates with client_secret_basic
// (RFC 6749 2.3.1) and gets an access token with the client_credentials grant (4.4), then
// asks the provider about it (introspection, RFC 7662) and revokes it (RFC 7009).
// oidc-provider does not introspect or revoke structured (JWT) access tokens on purpose - a
// resource server validates them locally - so the example then verifies the token through
// the keys endpoint instead, as resource_server does; Keycloak introspects them.
//
// Configuration: flags, else environment, else the provider.env file of the local test
// provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help for the list.
#include <oidc/client.hpp>
#include <oidc/jwks_cache.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

namespace {

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
    std::getline(in, s);
    return s;
}

struct config {
    std::string issuer, client_id = "eat-service-basic", client_secret, cafile, scope;
    std::string audience = "eat-api";
};

const char* usage =
    "usage: client_credentials [--provider-env FILE] [--issuer URL] [--client-id ID]\n"
    "         [--client-secret-file F] [--cafile PEM] [--scope S] [--audience AUD]\n"
    "environment: OIDC_TEST_ENV (provider.env), OIDC_ISSUER, OIDC_SERVICE_CLIENT_ID,\n"
    "             OIDC_CLIENT_SECRET_FILE, OIDC_CAFILE, OIDC_AUDIENCE\n";

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
    c.client_id =
        pick("client-id", "OIDC_SERVICE_CLIENT_ID",
             p.count("OIDC_TEST_BASIC_CLIENT_ID") ? p["OIDC_TEST_BASIC_CLIENT_ID"] : c.client_id);
    if (auto f = pick("client-secret-file", "OIDC_CLIENT_SECRET_FILE", ""); !f.empty())
        c.client_secret = read_secret_file(f);
    else
        c.client_secret = p["OIDC_TEST_BASIC_CLIENT_SECRET"];
    c.cafile = pick("cafile", "OIDC_CAFILE", p["OIDC_TEST_CA"]);
    c.scope = pick("scope", "OIDC_SCOPE", "");
    c.audience = pick("audience", "OIDC_AUDIENCE",
                      p.count("OIDC_TEST_AUDIENCE") ? p["OIDC_TEST_AUDIENCE"] : c.audience);
    if (c.issuer.empty() || c.client_secret.empty()) {
        std::cerr << "client_credentials: need an issuer and a client secret\n" << usage;
        return false;
    }
    return true;
}

std::string preview(std::string_view secret) {
    return std::string(secret.substr(0, 10)) + "...(" + std::to_string(secret.size()) + " bytes)";
}

asio::awaitable<int> run(config cfg) {
    auto ex = co_await asio::this_coro::executor;

    // 1. A confidential client: discovery finds the token, introspection and revocation URLs.
    oidc::client_options opts;
    opts.issuer = cfg.issuer;
    opts.client_id = cfg.client_id;
    opts.auth = oidc::client_secret_basic{cfg.client_secret};
    opts.http.ca_file = cfg.cafile;
    oidc::client client(ex, opts);

    std::cout << "== 1. client_credentials grant as " << cfg.client_id
              << " (client_secret_basic)\n";
    // (Named arguments, no temporaries inside co_await: GCC 12 destroys those twice, PR 99576.)
    oidc::grant grant = oidc::client_credentials_grant{cfg.scope, {}};
    oidc::diagnostics diag;
    auto [ec, tokens] = co_await client.get_token(grant, diag, oidc::net::use_nothrow_awaitable);
    if (ec) {
        std::cout << "  failed: " << ec.message()
                  << (diag.error.empty() ? "" : " (server said: " + diag.error + ")") << "\n";
        co_return 1;
    }
    std::cout << "  access_token " << preview(tokens.access_token) << ", token_type "
              << tokens.token_type << ", scope \"" << tokens.scope << "\", refresh_token "
              << (tokens.refresh_token.empty() ? "none (RFC 6749 4.4.3)" : "issued") << "\n";

    // 2. Introspection (RFC 7662).
    std::cout << "\n== 2. Introspection\n";
    const std::string hint = "access_token";
    auto [iec, info] =
        co_await client.introspect(tokens.access_token, hint, oidc::net::use_nothrow_awaitable);
    bool checked = false;
    if (!iec) {
        std::cout << "  active " << (info.active ? "true" : "false") << ", client_id "
                  << info.client_id << ", sub " << info.sub << "\n";
        checked = info.active;
    } else {
        std::cout << "  refused: " << iec.message() << "\n"
                  << "  (oidc-provider does not introspect JWT access tokens: a resource server\n"
                  << "   verifies them locally, as below)\n";
        oidc::jwks_cache keys(client, {}); // the jwks_uri of the discovered metadata
        oidc::jose::validation_options vo;
        vo.kind = oidc::jose::validation_options::profile::access_token;
        vo.issuer = cfg.issuer;
        vo.audiences = {cfg.audience};
        vo.algorithms = {oidc::jose::alg::RS256, oidc::jose::alg::PS256, oidc::jose::alg::ES256,
                         oidc::jose::alg::ES384, oidc::jose::alg::ES512, oidc::jose::alg::EdDSA};
        auto [vec, claims] =
            co_await keys.verify(tokens.access_token, vo, oidc::net::use_nothrow_awaitable);
        if (vec) {
            std::cout << "  local verification failed: " << vec.message() << "\n";
        } else {
            std::cout << "  verified locally: sub " << claims.sub() << ", client_id "
                      << claims.client_id() << ", aud " << cfg.audience << ", expires in "
                      << claims.exp().value_or(0) - claims.iat().value_or(0) << " s\n";
            checked = true;
        }
    }

    // 3. Revocation (RFC 7009): success also when the token was already invalid.
    std::cout << "\n== 3. Revocation\n";
    auto [rec] =
        co_await client.revoke(tokens.access_token, hint, oidc::net::use_nothrow_awaitable);
    if (!rec) {
        std::cout << "  revoked\n";
        if (!iec) {
            auto [i2, after] = co_await client.introspect(tokens.access_token, hint,
                                                          oidc::net::use_nothrow_awaitable);
            std::cout << "  introspection now: "
                      << (i2             ? i2.message()
                          : after.active ? "active (!)"
                                         : "active false")
                      << "\n";
            if (!i2 && after.active)
                checked = false;
        }
    } else {
        std::cout << "  refused: " << rec.message()
                  << "\n  (JWT access tokens end at their exp; revoke refresh tokens or grants)\n";
    }

    std::cout << (checked ? "\nRESULT: OK\n" : "\nRESULT: FAILED\n");
    co_return checked ? 0 : 1;
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
                std::cerr << "client_credentials: " << x.what() << "\n";
            }
        } else {
            rc = r;
        }
        io.stop();
    });
    io.run();
    return rc;
}
