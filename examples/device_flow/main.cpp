// asio-oidc example: device_flow.
//
// The device authorization grant (RFC 8628) for an input-constrained device: ask for a
// device code, show the user code and the verification URI to the person, then poll the
// token endpoint until they approve (poll_device_token honours the interval, slow_down and
// the code's lifetime). With --approve-as-test-user, a second coroutine approves through the
// local test provider's hook, as the person would in a browser.
//
// Configuration: flags, else environment, else the provider.env file of the local test
// provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help for the list.
#include <oidc/client.hpp>
#include <oidc/http/url.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

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

struct config {
    std::string issuer, client_id = "eat-device", cafile, scope = "openid profile";
    std::string test_base_url; ///< the local test provider's hooks (--approve-as-test-user)
    bool approve = false;
};

const char* usage =
    "usage: device_flow [--provider-env FILE] [--issuer URL] [--client-id ID] [--cafile PEM]\n"
    "         [--scope S] [--approve-as-test-user]\n"
    "environment: OIDC_TEST_ENV (provider.env), OIDC_ISSUER, OIDC_DEVICE_CLIENT_ID,\n"
    "             OIDC_CAFILE\n";

bool parse_args(int argc, char** argv, config& c) {
    std::map<std::string, std::string> flags;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--approve-as-test-user") {
            c.approve = true;
            continue;
        }
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
        pick("client-id", "OIDC_DEVICE_CLIENT_ID",
             p.count("OIDC_TEST_DEVICE_CLIENT_ID") ? p["OIDC_TEST_DEVICE_CLIENT_ID"] : c.client_id);
    c.cafile = pick("cafile", "OIDC_CAFILE", p["OIDC_TEST_CA"]);
    c.scope = pick("scope", "OIDC_SCOPE", c.scope);
    c.test_base_url = p["OIDC_TEST_BASE_URL"];
    if (c.issuer.empty()) {
        std::cerr << "device_flow: need an issuer\n" << usage;
        return false;
    }
    if (c.approve && c.test_base_url.empty()) {
        std::cerr << "device_flow: --approve-as-test-user needs the local test provider\n";
        return false;
    }
    return true;
}

std::string preview(std::string_view secret) {
    return std::string(secret.substr(0, 10)) + "...(" + std::to_string(secret.size()) + " bytes)";
}

// What the person does in a browser, through the test provider's approval hook.
asio::awaitable<void> approve_later(oidc::http::client http, std::string base,
                                    std::string user_code) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::seconds(1));
    co_await t.async_wait(oidc::net::use_nothrow_awaitable);
    oidc::http::request req;
    req.method = oidc::http::verb::post;
    req.target = base + "/test/device/approve";
    req.headers.set("Content-Type", "application/x-www-form-urlencoded");
    req.body = oidc::http::form_body({{"user_code", user_code}});
    auto [ec, resp] = co_await http.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
    std::cout << "  [person] approved " << user_code << " in the browser -> "
              << (ec ? ec.message() : "HTTP " + std::to_string(resp.status)) << std::endl;
}

asio::awaitable<int> run(config cfg) {
    auto ex = co_await asio::this_coro::executor;
    oidc::client_options opts;
    opts.issuer = cfg.issuer;
    opts.client_id = cfg.client_id;
    opts.auth = oidc::auth_none{}; // a public client on the device
    opts.http.ca_file = cfg.cafile;
    oidc::client client(ex, opts);

    // 1. The device authorization request (RFC 8628 3.1).
    std::cout << "== 1. Device authorization request (client " << cfg.client_id << ", scope \""
              << cfg.scope << "\")\n";
    auto [ec, da] = co_await client.device_authorize(cfg.scope, oidc::net::use_nothrow_awaitable);
    if (ec) {
        std::cout << "  failed: " << ec.message() << "\n";
        co_return 1;
    }
    std::cout << "  On another device, open " << da.verification_uri << "\n"
              << "  and enter the code:  " << da.user_code << "\n"
              << "  (or open " << da.verification_uri_complete << ")\n"
              << "  the code expires in " << da.expires_in.count() << " s; polling every "
              << da.interval.count() << " s\n";

    if (cfg.approve)
        asio::co_spawn(ex, approve_later(client.http(), cfg.test_base_url, da.user_code),
                       asio::detached);

    // 2. Poll until the person approves (RFC 8628 3.4, 3.5).
    std::cout << "\n== 2. Polling the token endpoint\n";
    auto [pec, tokens] = co_await client.poll_device_token(da, oidc::net::use_nothrow_awaitable);
    if (pec) {
        std::cout << "  failed: " << pec.message() << "\n";
        co_return 1;
    }
    oidc::jose::jws jws;
    oidc::jose::claims id;
    std::cout << "  access_token " << preview(tokens.access_token) << "\n"
              << "  refresh_token "
              << (tokens.refresh_token.empty() ? "none" : preview(tokens.refresh_token)) << "\n";
    if (!tokens.id_token.empty() && !oidc::jose::jws::parse(tokens.id_token, jws) &&
        !oidc::jose::claims::parse(jws.payload(), id))
        std::cout << "  ID token (validated): sub " << id.sub() << "\n";

    // 3. The device acts for the user: userinfo with the access token.
    auto [uec, info] = co_await client.userinfo(tokens, oidc::net::use_nothrow_awaitable);
    std::cout << "\n== 3. userinfo\n  " << (uec ? uec.message() : info.json()) << "\n";
    if (uec)
        co_return 1;
    std::cout << "\nRESULT: OK\n";
    co_return 0;
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
                std::cerr << "device_flow: " << x.what() << "\n";
            }
        } else {
            rc = r;
        }
        io.stop();
    });
    io.run();
    return rc;
}
