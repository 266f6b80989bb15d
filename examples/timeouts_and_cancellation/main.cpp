// asio-oidc example: timeouts and cancellation with oidc::session.
//
// One shared token for many concurrent callers; a per-wait timeout that gives up on the
// token without cancelling the renewal the others wait for; a per-call timeout on call();
// the explicit cancellation of one waiter (operation_aborted) while the others get the token;
// the observability hook. Against the local test provider, the example slows the token
// endpoint down with the provider's /test/delay hook so that every bound really fires, and
// clears the delay at the end. The service client (client_credentials) keeps the demo's
// password-grant counts untouched.
//
// Each step prints one line the demo checks (scripts/demo.sh --check):
//   per-wait timeout: gave up after N ms (bound B ms); the renewal went on: token after M ms
//   per-call timeout: timed_out after N ms (bound B ms)
//   cancellation: cancelled waiter: operation_aborted after N ms; others: K of K got the token
//
// Configuration (examples/common/config.hpp): flags, else environment, else the provider.env
// file of the local test provider (--provider-env FILE or $OIDC_TEST_ENV). Run with --help.
#include <oidc/session.hpp>

#include "common/config.hpp"
#include "common/run.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>

using namespace std::chrono_literals;

namespace {

struct settings : oidc_example::client_settings {
    std::string api_url, test_base_url;
    std::chrono::milliseconds delay{1500}, wait_bound{300}, call_bound{500}, cancel_after{100};
};

bool read_settings(int argc, char** argv, settings& c) {
    oidc_example::config cfg(
        "timeouts_and_cancellation", argc, argv, {},
        "--api: a bearer-protected URL (default: $API_BASE_URL/v4/account/42/dossiers).\n"
        "--test-hooks: the test provider's base URL, for its /test/delay hook; without it the\n"
        "token endpoint's own latency is all the bounds race against.");
    cfg.read_client(c, oidc_example::service_client);
    const std::string base = cfg.get("api-base", "API_BASE_URL");
    c.api_url = cfg.url("api", "API_URL", {}, base.empty() ? "" : base + "/v4/account/42/dossiers");
    c.test_base_url = cfg.url("test-hooks", "OIDC_TEST_HOOKS", "OIDC_TEST_BASE_URL");
    c.delay = std::chrono::milliseconds(cfg.number("delay-ms", "", 1500, 0, 10000));
    c.wait_bound = std::chrono::milliseconds(cfg.number("wait-bound-ms", "", 300, 1, 10000));
    c.call_bound = std::chrono::milliseconds(cfg.number("call-bound-ms", "", 500, 1, 10000));
    c.cancel_after = std::chrono::milliseconds(cfg.number("cancel-after-ms", "", 100, 0, 10000));
    cfg.require(!c.api_url.empty(), "need --api (or API_BASE_URL)");
    cfg.require(c.test_base_url.empty() ||
                    (c.delay > c.wait_bound && c.delay > c.call_bound && c.delay > c.cancel_after),
                "--delay-ms must exceed the bounds it is meant to trip");
    return cfg.ok();
}

const char* event_name(oidc::session_event_kind k) {
    switch (k) {
    case oidc::session_event_kind::acquired:
        return "acquired";
    case oidc::session_event_kind::refreshed:
        return "refreshed";
    case oidc::session_event_kind::refresh_failed:
        return "refresh_failed";
    case oidc::session_event_kind::retry_scheduled:
        return "retry_scheduled";
    case oidc::session_event_kind::fallback:
        return "fallback";
    case oidc::session_event_kind::reauthentication_required:
        return "reauthentication_required";
    case oidc::session_event_kind::invalidated:
        return "invalidated";
    case oidc::session_event_kind::proactive_refresh:
        return "proactive_refresh";
    case oidc::session_event_kind::closed:
        return "closed";
    }
    return "?";
}

using steady = std::chrono::steady_clock;

// The errc name of an error ("timed_out"), else its message.
std::string name_of(const std::error_code& ec) {
    if (ec == asio::error::operation_aborted)
        return "operation_aborted";
    auto n = oidc::error_name(ec);
    return n.empty() ? ec.message() : std::string(n);
}

long long ms_since(steady::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
}

/// The outcome of one wait for the token.
struct wait_result {
    bool got = false;     ///< a token came
    bool gave_up = false; ///< the bound fired first
    std::error_code ec;
    std::size_t size = 0;
    long long ms = 0;
};

// Waits for the token at most `limit`; the renewal goes on for the other callers.
asio::awaitable<wait_result> token_within(oidc::session& s, std::chrono::milliseconds limit) {
    const auto t0 = steady::now();
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto [order, ec, tok, timer_ec] =
        co_await asio::experimental::make_parallel_group(s.token(oidc::net::deferred),
                                                         timer.async_wait(oidc::net::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_ec;
    wait_result r;
    r.ms = ms_since(t0);
    r.gave_up = order[0] == 1;
    r.ec = r.gave_up ? std::error_code() : ec;
    r.got = !r.gave_up && !ec && tok;
    r.size = r.got ? tok.value().size() : 0;
    co_return r;
}

// The test provider's delay hook on the token endpoint (0 clears it).
asio::awaitable<bool> delay_token_endpoint(oidc::http::client& http, const std::string& base,
                                           std::chrono::milliseconds d) {
    oidc::http::request req;
    req.method = oidc::http::verb::post;
    req.target = base + "/test/delay?route=token&ms=" + std::to_string(d.count());
    auto [ec, resp] = co_await http.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
    co_return !ec && resp.status == 200;
}

asio::awaitable<int> run(settings cfg) {
    auto ex = co_await asio::this_coro::executor;
    oidc::client_options co = cfg.client_options(); // client_secret_basic, CA file
    co.timeout = 10s;                               // the bound of each token request
    oidc::client client(ex, co);

    oidc::session_options so;
    so.margin = 1s; // short-lived demo tokens: renew only when asked to below
    so.margin_fraction = 0.0;
    so.on_event = [](const oidc::session_event& e) {
        std::cout << "  [session] " << event_name(e.kind) << " waiters=" << e.waiters;
        if (e.error)
            std::cout << " error=" << name_of(e.error);
        std::cout << "\n";
    };
    oidc::grant grant = oidc::client_credentials_grant{};
    oidc::session s({client, grant}, so);
    int problems = 0;
    auto expect = [&problems](bool ok, const char* what) {
        if (!ok) {
            ++problems;
            std::cout << "  UNEXPECTED: " << what << "\n";
        }
    };

    // 1. Many concurrent callers, one token request.
    std::cout << "== 1. Three concurrent callers, one token request\n";
    {
        auto [order, e1, r1, e2, r2, e3, r3] =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, token_within(s, 5s), oidc::net::deferred),
                asio::co_spawn(ex, token_within(s, 5s), oidc::net::deferred),
                asio::co_spawn(ex, token_within(s, 5s), oidc::net::deferred))
                .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        (void)order;
        int got = 0;
        for (const auto* r : {&r1, &r2, &r3})
            got += r->got ? 1 : 0;
        std::cout << "  " << got << " of 3 callers got a token of " << r1.size << " bytes\n";
        expect(!e1 && !e2 && !e3 && got == 3, "every caller gets the token");
    }

    // From here on the token endpoint answers late (test provider only).
    // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
    bool slowed = false;
    if (!cfg.test_base_url.empty())
        slowed = co_await delay_token_endpoint(client.http(), cfg.test_base_url, cfg.delay);
    std::cout << "\n"
              << (slowed ? "(the test provider now answers token requests after " +
                               std::to_string(cfg.delay.count()) + " ms)\n"
                         : "(no delay hook: the bounds race the provider's own latency)\n");

    // 2. A per-wait timeout: this caller gives up, the renewal goes on for the next one.
    std::cout << "\n== 2. Per-wait timeout\n";
    s.invalidate(s.cached_token()); // force a renewal to have something to wait for
    {
        const auto t0 = steady::now();
        auto w = co_await token_within(s, cfg.wait_bound);
        auto next = co_await token_within(s, 10s);
        std::cout << "  per-wait timeout: "
                  << (w.gave_up ? "gave up after " + std::to_string(w.ms) + " ms"
                                : "no timeout (" + std::to_string(w.ms) + " ms)")
                  << " (bound " << cfg.wait_bound.count() << " ms); the renewal went on: "
                  << (next.got ? "token after " + std::to_string(ms_since(t0)) + " ms" : "no token")
                  << "\n";
        if (slowed)
            expect(w.gave_up && w.ms >= cfg.wait_bound.count() && next.got,
                   "the wait gives up at its bound and the next caller gets the token");
    }

    // 3. call() with a per-call timeout: the bound covers the token wait, the request and the
    //    one replay after a 401 invalid_token; errc::timed_out when it fires.
    std::cout << "\n== 3. Per-call timeout on call()\n";
    s.invalidate(s.cached_token());
    {
        oidc::http::request req;
        req.target = cfg.api_url;
        oidc::call_options opts;
        opts.timeout = cfg.call_bound;
        const auto t0 = steady::now();
        auto [ec, resp] = co_await s.call(std::move(req), opts, oidc::net::use_nothrow_awaitable);
        const auto ms = ms_since(t0);
        std::cout << "  per-call timeout: "
                  << (ec ? name_of(ec) : "HTTP " + std::to_string(resp.status)) << " after " << ms
                  << " ms (bound " << cfg.call_bound.count() << " ms)\n";
        if (slowed)
            expect(ec == oidc::errc::timed_out && ms >= cfg.call_bound.count(),
                   "the call times out at its bound");
        // The same call with room for the renewal.
        oidc::http::request again;
        again.target = cfg.api_url;
        opts.timeout = 10s;
        auto [ec2, resp2] =
            co_await s.call(std::move(again), opts, oidc::net::use_nothrow_awaitable);
        std::cout << "  with a 10 s bound: "
                  << (ec2 ? name_of(ec2)
                          : "HTTP " + std::to_string(resp2.status) + ", " +
                                std::to_string(resp2.body.size()) + " bytes")
                  << "\n";
        expect(!ec2 && resp2.status == 200, "the call with room succeeds");
    }

    // 4. Explicit cancellation of one wait (any cancellation type aborts that wait only).
    std::cout << "\n== 4. Cancelling one waiter\n";
    s.invalidate(s.cached_token());
    {
        auto cancelled = std::make_shared<wait_result>();
        auto cancel = std::make_shared<asio::cancellation_signal>();
        const auto t0 = steady::now();
        s.token(asio::bind_cancellation_slot(cancel->slot(),
                                             [cancelled, t0](std::error_code e, oidc::token_ref t) {
                                                 cancelled->ec = e;
                                                 cancelled->got = !e && t;
                                                 cancelled->ms = ms_since(t0);
                                             }));
        asio::steady_timer later(ex, cfg.cancel_after);
        later.async_wait(
            [cancel](std::error_code) { cancel->emit(asio::cancellation_type::terminal); });
        auto [order, e1, r1, e2, r2] =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, token_within(s, 10s), oidc::net::deferred),
                asio::co_spawn(ex, token_within(s, 10s), oidc::net::deferred))
                .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        (void)order;
        const int others = (!e1 && r1.got ? 1 : 0) + (!e2 && r2.got ? 1 : 0);
        std::cout << "  cancellation: cancelled waiter: "
                  << (cancelled->ec ? name_of(cancelled->ec)
                                    : std::string(cancelled->got ? "got the token" : "nothing"))
                  << " after " << cancelled->ms << " ms; others: " << others
                  << " of 2 got the token\n";
        expect(cancelled->ec == asio::error::operation_aborted && others == 2,
               "only the cancelled waiter is aborted");
    }

    if (slowed)
        co_await delay_token_endpoint(client.http(), cfg.test_base_url, 0ms);
    std::cout << (problems == 0 ? "\nRESULT: OK\n" : "\nRESULT: FAILED\n");
    co_return problems == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    return oidc_example::example_main(argc, argv, "timeouts_and_cancellation", read_settings, run);
}
