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

#include "common/config.hpp"
#include "common/run.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <iostream>
#include <string>

namespace {

using oidc_example::preview;

struct settings : oidc_example::client_settings {
    std::string scope;
    std::string test_base_url; ///< the local test provider's hooks (--approve-as-test-user)
    bool approve = false;
};

bool read_settings(int argc, char** argv, settings& c) {
    oidc_example::config cfg("device_flow", argc, argv, {"approve-as-test-user"});
    cfg.read_client(c, oidc_example::device_client);
    c.scope = cfg.get("scope", "OIDC_SCOPE", {}, "openid profile");
    c.approve = cfg.has("approve-as-test-user");
    c.test_base_url = cfg.provider("OIDC_TEST_BASE_URL");
    cfg.require(!c.approve || !c.test_base_url.empty(),
                "--approve-as-test-user needs the local test provider");
    return cfg.ok();
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

asio::awaitable<int> run(settings cfg) {
    auto ex = co_await asio::this_coro::executor;
    oidc::client client(ex, cfg.client_options()); // a public client on the device: no secret

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
    return oidc_example::example_main(argc, argv, "device_flow", read_settings, run);
}
