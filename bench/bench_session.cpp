// oidc::session benchmark:
//  (1) token() on a fresh token: ns per call and allocations per call (must be 0);
//  (2) N coroutines awaiting a stale token, the token source answering after 50 ms: the real
//      test provider with its delay hook when OIDC_TEST_ISSUER is set (counted at /test/stats),
//      else an in-process source; prints `waiters N token_requests M all_served_ms T`;
//  (3) call() throughput against a local HTTPS API compared with the bare HTTP client in the
//      same run (target >= 0.97x).
// Usage: bench_session [waiters=10000] [seconds_per_round=2] [concurrency=8]
// GCC 12 at -O3 warns inside simdjson.h (reached through oidc/client.hpp's JSON reader):
// -Wdangling-pointer / -Wmaybe-uninitialized false positives in simdjson's own code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <oidc/session.hpp>

#include "../tests/support/bearer_api.hpp"
#include "../tests/support/counting_new.hpp" // the counting operator new (this program only)
#include "../tests/support/token_loop.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

oidc::token_set make_tokens(std::string at, std::chrono::milliseconds ttl) {
    oidc::token_set t;
    t.access_token = std::move(at);
    t.token_type = "Bearer";
    t.refresh_token = "rt";
    t.received_at = oidc::clock::now();
    t.expires_at = t.received_at + ttl;
    return t;
}

// A token source answering after a delay with a numbered token; counts its requests. It
// may carry an HTTP client for call().
class delayed_source {
public:
    struct state {
        asio::any_io_executor ex;
        std::chrono::milliseconds delay{0};
        std::atomic<int> fetches{0};
        std::optional<oidc::http::client> http;
    };
    explicit delayed_source(asio::any_io_executor ex) : st_(std::make_shared<state>()) {
        st_->ex = ex;
    }
    asio::any_io_executor get_executor() const { return st_->ex; }
    bool needs_user() const { return false; }
    oidc::http::client& http() { return *st_->http; }
    state& st() { return *st_; }

    template <class Handler>
    void async_fetch(oidc::fetch_kind, const oidc::token_set&, Handler&& h) {
        int n = ++st_->fetches;
        auto t = std::make_shared<asio::steady_timer>(st_->ex, st_->delay);
        auto ex = asio::get_associated_executor(h, st_->ex);
        t->async_wait([t, ex, n, h = std::forward<Handler>(h)](std::error_code) mutable {
            asio::post(ex, [n, h = std::move(h)]() mutable {
                std::move(h)(std::error_code(), make_tokens("at-" + std::to_string(n), 1h),
                             oidc::diagnostics{});
            });
        });
    }

private:
    std::shared_ptr<state> st_;
};

// ---- (1) token() on a fresh token ----
void bench_fresh() {
    asio::io_context ctx;
    delayed_source src(ctx.get_executor());
    oidc::session_options o;
    o.initial = make_tokens("fresh-token-of-a-realistic-length-eyJhbGciOiJSUzI1NiJ9", 1h);
    oidc::basic_session<delayed_source> s(src, o);
    constexpr int warmup = 1000, n = 1000000;

    auto cb = oidc_test::token_callback_loop(ctx, s, warmup, n);
    auto co = oidc_test::token_awaitable_loop(ctx, s, warmup, n);
    auto cached = oidc_test::cached_token_loop(s, n);
    if (!cb.ok || !co.ok || !cached.ok)
        std::fprintf(stderr, "token() failed on a fresh token\n");
    std::printf("token_fresh_callback ns_per_call %.1f allocs_per_call %.4f\n", cb.ns_per_call,
                double(cb.allocs) / n);
    std::printf("token_fresh_awaitable ns_per_call %.1f allocs_per_call %.4f\n", co.ns_per_call,
                double(co.allocs) / n);
    std::printf("cached_token ns_per_call %.1f allocs_per_call %.4f\n", cached.ns_per_call,
                double(cached.allocs) / n);
}

// ---- (2) N waiters on a stale token, answer after 50 ms ----
template <class Session>
asio::awaitable<double> await_all(Session& s, int waiters) {
    auto ex = co_await asio::this_coro::executor;
    int done = 0, ok = 0;
    auto t0 = steady::now();
    steady::time_point last{};
    for (int i = 0; i < waiters; ++i)
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                auto [ec, t] = co_await s.token(oidc::net::use_nothrow_awaitable);
                ok += !ec && t;
                if (++done == waiters)
                    last = steady::now();
            },
            asio::detached);
    asio::steady_timer tick(ex);
    for (int i = 0; i < 6000 && done < waiters; ++i) {
        tick.expires_after(5ms);
        co_await tick.async_wait(oidc::net::use_nothrow_awaitable);
    }
    if (ok != waiters)
        std::printf("warning: %d of %d waiters served\n", ok, waiters);
    co_return std::chrono::duration<double, std::milli>(last - t0).count();
}

void bench_stale_local(int waiters) {
    asio::io_context ctx;
    delayed_source src(ctx.get_executor());
    src.st().delay = 50ms;
    oidc::session_options o;
    o.initial = make_tokens("stale", -1s);
    oidc::basic_session<delayed_source> s(src, o);
    double ms = 0;
    asio::co_spawn(
        ctx, [&]() -> asio::awaitable<void> { ms = co_await await_all(s, waiters); },
        asio::detached);
    ctx.run_for(60s);
    std::printf("source in-process(50ms): waiters %d token_requests %d all_served_ms %.1f\n",
                waiters, src.st().fetches.load(), ms);
}

std::string env(const char* n) {
    const char* v = std::getenv(n);
    return v ? v : "";
}

asio::awaitable<oidc::http::response> hook(oidc::http::client& h, oidc::http::verb m,
                                           std::string path) {
    oidc::http::request r;
    r.method = m;
    r.target = env("OIDC_TEST_BASE_URL") + path;
    auto [ec, resp] = co_await h.async_send(std::move(r), oidc::net::use_nothrow_awaitable);
    co_return resp;
}

int stat_total(const std::string& stats) {
    auto t = stats.find("\"token\":");
    auto p = stats.find("\"total\":", t);
    return p == std::string::npos ? -1 : std::atoi(stats.c_str() + p + 8);
}

void bench_stale_provider(int waiters) {
    asio::io_context ctx;
    oidc::client_options co;
    co.issuer = env("OIDC_TEST_ISSUER");
    co.client_id = env("OIDC_TEST_PUBLIC_CLIENT_ID");
    co.http.ca_file = env("OIDC_TEST_CA");
    oidc::client c(ctx.get_executor(), co);
    oidc::http::client_options ho;
    ho.ca_file = env("OIDC_TEST_CA");
    oidc::http::client hooks(ctx.get_executor(), ho);
    double ms = 0;
    int requests = -1;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            oidc::grant g =
                oidc::password_grant{env("OIDC_TEST_USER"), env("OIDC_TEST_PASSWORD"), {}, {}};
            auto g2 = g;
            auto ts = co_await c.get_token(std::move(g2));
            ts.expires_at = oidc::clock::now() - 1s;
            oidc::session_options o;
            o.initial = ts;
            oidc::session s({c, g}, o);
            co_await hook(hooks, oidc::http::verb::post, "/test/delay?ms=50&route=token");
            co_await hook(hooks, oidc::http::verb::post, "/test/stats/reset");
            ms = co_await await_all(s, waiters);
            auto st = co_await hook(hooks, oidc::http::verb::get, "/test/stats");
            requests = stat_total(st.body);
            co_await hook(hooks, oidc::http::verb::post, "/test/delay?ms=0&route=token");
        },
        asio::detached);
    ctx.run_for(120s);
    std::printf("provider(delay 50ms): waiters %d token_requests %d all_served_ms %.1f\n", waiters,
                requests, ms);
}

// ---- (3) call() vs bare HTTP client ----
std::string make_pki() {
    auto root = std::filesystem::path(__FILE__).parent_path().parent_path();
    auto dir = std::filesystem::temp_directory_path() / "asio-oidc-bench-pki";
    if (!std::filesystem::exists(dir / "server.pem")) {
        std::string cmd = "bash '" + (root / "scripts/make-certs.sh").string() + "' '" +
                          dir.string() + "' >/dev/null";
        if (std::system(cmd.c_str()) != 0)
            throw std::runtime_error("make-certs.sh failed");
    }
    return dir.string();
}

template <class Send>
double round_rps(asio::io_context& ctx, int concurrency, std::chrono::milliseconds dur, Send send) {
    std::atomic<long> count{0};
    std::atomic<int> errors{0};
    bool stop = false;
    int finished = 0;
    auto t0 = steady::now();
    for (int w = 0; w < concurrency; ++w)
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                while (!stop) {
                    auto [ec, resp] = co_await send();
                    if (ec || resp.status != 200)
                        ++errors;
                    ++count;
                }
                ++finished;
            },
            asio::detached);
    ctx.restart();
    ctx.run_for(dur);
    stop = true;
    auto t1 = steady::now();
    long c = count.load();
    while (finished < concurrency) {
        ctx.restart();
        ctx.run_for(10ms);
    }
    if (errors)
        std::printf("warning: %d errors\n", errors.load());
    return c / std::chrono::duration<double>(t1 - t0).count();
}

void bench_call(std::chrono::milliseconds dur, int concurrency) {
    auto pki = make_pki();
    // The API runs on its own thread.
    asio::io_context server_ctx;
    asio::ssl::context tls(asio::ssl::context::tls_server);
    tls.use_certificate_chain_file(pki + "/server.pem");
    tls.use_private_key_file(pki + "/server.key", asio::ssl::context::pem);
    oidc_test::bearer_api api(server_ctx.get_executor(), &tls);
    auto work = asio::make_work_guard(server_ctx);
    std::thread server([&] { server_ctx.run(); });

    asio::io_context ctx;
    delayed_source src(ctx.get_executor());
    oidc::http::client_options ho;
    ho.ca_file = pki + "/ca.pem";
    src.st().http.emplace(ctx.get_executor(), ho);
    oidc::session_options o;
    o.initial = make_tokens("eyJhbGciOiJSUzI1NiJ9.a-bench-token-of-some-length.sig", 1h);
    oidc::basic_session<delayed_source> s(src, o);
    oidc::http::client& bare = src.http();
    const std::string url = api.url("/api/dossiers");
    const std::string bearer = "Bearer " + std::string(s.cached_token().value());

    auto send_bare = [&]() {
        oidc::http::request r;
        r.target = url;
        r.headers.set("Authorization", bearer);
        return bare.async_send(std::move(r), oidc::net::use_nothrow_awaitable);
    };
    auto send_session = [&]() {
        oidc::http::request r;
        r.target = url;
        return s.call(std::move(r), oidc::net::use_nothrow_awaitable);
    };
    // Warm the pool, then alternate rounds.
    round_rps(ctx, concurrency, 300ms, send_bare);
    double bare_sum = 0, sess_sum = 0;
    for (int i = 0; i < 3; ++i) {
        bare_sum += round_rps(ctx, concurrency, dur, send_bare);
        sess_sum += round_rps(ctx, concurrency, dur, send_session);
    }
    std::printf("call_throughput bare_rps %.0f session_call_rps %.0f ratio %.3f "
                "(concurrency %d, HTTPS keep-alive, 3 alternating rounds of %lld ms)\n",
                bare_sum / 3, sess_sum / 3, sess_sum / bare_sum, concurrency,
                static_cast<long long>(dur.count()));
    work.reset();
    server_ctx.stop();
    server.join();
}

} // namespace

int main(int argc, char** argv) {
    int waiters = argc > 1 ? std::atoi(argv[1]) : 10000;
    auto dur = std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) * 1000 : 2000);
    int concurrency = argc > 3 ? std::atoi(argv[3]) : 8;
    bench_fresh();
    if (!env("OIDC_TEST_ISSUER").empty())
        bench_stale_provider(waiters);
    bench_stale_local(waiters);
    bench_call(dur, concurrency);
}
