// Timeouts and cancellation with oidc::session: one shared token for many concurrent calls,
// a per-wait timeout that never cancels the renewal others wait for, a per-call timeout on
// call(), explicit cancellation, and the observability hook.
//
// Usage: timeouts_and_cancellation ISSUER CLIENT_ID USER PASSWORD_FILE API_URL [CA_FILE]
//   e.g. against the test provider (scripts/provider.sh) and any bearer-protected URL.
#include <oidc/session.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

using namespace std::chrono_literals;

namespace {

std::string read_secret(const std::string& path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
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

// Waits for the token at most `limit`; the renewal goes on for the other callers.
asio::awaitable<std::string> token_within(oidc::session& s, std::chrono::milliseconds limit) {
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto [order, ec, tok, timer_ec] =
        co_await asio::experimental::make_parallel_group(s.token(oidc::net::deferred),
                                                         timer.async_wait(oidc::net::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_ec;
    if (order[0] == 1)
        co_return "(gave up after " + std::to_string(limit.count()) + " ms)";
    if (ec)
        co_return "(error: " + ec.message() + ")";
    co_return "token of " + std::to_string(tok.value().size()) + " bytes";
}

asio::awaitable<void> run(oidc::session& s, std::string api_url) {
    // 1. Many concurrent callers, one token request.
    for (int i = 0; i < 3; ++i)
        std::cout << "caller " << i << ": " << co_await token_within(s, 2000ms) << "\n";

    // 2. call() with a per-call timeout: Authorization: Bearer is added, a 401 with
    //    error="invalid_token" drops that token and the request is replayed once.
    oidc::http::request req;
    req.target = api_url;
    oidc::call_options co;
    co.timeout = 5s;
    auto [ec, resp] = co_await s.call(std::move(req), co, oidc::net::use_nothrow_awaitable);
    if (ec)
        std::cout << "call: " << ec.message() << "\n";
    else
        std::cout << "call: HTTP " << resp.status << ", " << resp.body.size() << " bytes\n";

    // 3. Explicit cancellation of one wait (any cancellation type aborts that wait only).
    asio::cancellation_signal cancel;
    s.invalidate(s.cached_token()); // force a renewal to have something to wait for
    auto ex = co_await asio::this_coro::executor;
    s.token(asio::bind_cancellation_slot(cancel.slot(), [](std::error_code e, oidc::token_ref) {
        std::cout << "cancelled wait: " << e.message() << "\n";
    }));
    asio::post(ex, [&] { cancel.emit(asio::cancellation_type::terminal); });
    auto t = co_await s.token(); // this one still gets the renewed token
    std::cout << "other caller: token of " << t.value().size() << " bytes\n";
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 6) {
        std::cerr << "usage: " << argv[0]
                  << " ISSUER CLIENT_ID USER PASSWORD_FILE API_URL [CA_FILE]\n";
        return 2;
    }
    asio::io_context ctx;
    oidc::client_options co;
    co.issuer = argv[1];
    co.client_id = argv[2];
    if (argc > 6)
        co.http.ca_file = argv[6];
    co.timeout = 10s;
    oidc::client client(ctx.get_executor(), co);

    oidc::session_options so;
    so.proactive_refresh = true; // renew ahead of expiry: callers never wait
    so.on_event = [](const oidc::session_event& e) {
        std::cout << "[session] " << event_name(e.kind) << " waiters=" << e.waiters;
        if (e.error)
            std::cout << " error=" << e.error.message();
        std::cout << "\n";
    };
    oidc::session s({client, oidc::password_grant{argv[3], read_secret(argv[4]), {}, {}}}, so);

    int rc = 0;
    asio::co_spawn(ctx, run(s, argv[5]), [&](std::exception_ptr ep) {
        if (ep) {
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                std::cerr << "error: " << e.what() << "\n";
                rc = 1;
            }
        }
        ctx.stop();
    });
    ctx.run_for(60s);
    return rc;
}
