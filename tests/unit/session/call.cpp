// session::call(): bearer header, 401 invalid_token replay (once), timeout, cancellation,
// against a local protected API (plain HTTP on 127.0.0.1).
#include "bearer_api.hpp"
#include "scripted_source.hpp"

#include "catch.hpp"

#include <oidc/http/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using oidc_test::bearer_api;

namespace {

class http_source : public oidc_test::scripted_source {
public:
    explicit http_source(asio::any_io_executor ex)
        : scripted_source(ex), http_(ex, insecure_loopback()) {}
    oidc::http::client& http() { return http_; }

private:
    static oidc::http::client_options insecure_loopback() {
        oidc::http::client_options o;
        o.allow_insecure_http = true;
        return o;
    }
    oidc::http::client http_;
};

using api_session = oidc::basic_session<http_source>;

struct call_result {
    bool done = false;
    std::error_code ec;
    oidc::http::response resp;
};

template <class Pred>
bool run_until(asio::io_context& ctx, Pred pred, std::chrono::milliseconds limit = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
        ctx.restart();
        ctx.run_for(5ms);
    }
    return pred();
}

oidc::http::request get(const bearer_api& api) {
    oidc::http::request r;
    r.target = api.url("/api/dossiers");
    return r;
}

void start_call(api_session& s, oidc::http::request req, call_result& out,
                oidc::call_options o = {}) {
    s.call(std::move(req), o, [&out](std::error_code ec, oidc::http::response r) {
        out.done = true;
        out.ec = ec;
        out.resp = std::move(r);
    });
}

oidc::session_options opts() {
    oidc::session_options o;
    o.margin = 0ms;
    o.margin_fraction = 0;
    o.jitter_seed = 3;
    return o;
}

} // namespace

TEST_CASE("session call: adds the bearer token and reuses it", "[session][call]") {
    asio::io_context ctx;
    bearer_api api(ctx.get_executor());
    http_source src(ctx.get_executor());
    api_session s(src, opts());
    for (int i = 0; i < 3; ++i) {
        call_result r;
        start_call(s, get(api), r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        REQUIRE(!r.ec);
        CHECK(r.resp.status == 200);
        CHECK(r.resp.body == R"({"ok":true})");
    }
    CHECK(api.stats().requests == 3);
    CHECK(api.stats().rejected == 0);
    CHECK(src.fetches() == 1);
}

TEST_CASE("session call: 401 invalid_token drops that token and replays once", "[session][call]") {
    asio::io_context ctx;
    bearer_api api(ctx.get_executor());
    http_source src(ctx.get_executor());
    std::vector<oidc::session_event_kind> kinds;
    auto o = opts();
    o.on_event = [&](const oidc::session_event& e) {
        kinds.push_back(e.kind);
    };
    api_session s(src, std::move(o));
    call_result first;
    start_call(s, get(api), first);
    REQUIRE(run_until(ctx, [&] { return first.done; }));
    REQUIRE(first.resp.status == 200);

    SECTION("revoked token: a fresh one, one replay") {
        api.revoke("at-1");
        call_result r;
        auto req = get(api);
        req.method = oidc::http::verb::post;
        req.body = R"({"x":1})";
        req.headers.set("Content-Type", "application/json");
        start_call(s, std::move(req), r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        REQUIRE(!r.ec);
        CHECK(r.resp.status == 200);
        CHECK(api.stats().requests == 3);
        CHECK(api.stats().rejected == 1);
        CHECK(src.fetches() == 2);
        CHECK(s.cached_token().value() == "at-2");
        CHECK(std::count(kinds.begin(), kinds.end(), oidc::session_event_kind::invalidated) == 1);
    }
    SECTION("50 concurrent calls on a revoked token: one renewal") {
        api.revoke("at-1");
        std::vector<call_result> rs(50);
        for (auto& r : rs)
            start_call(s, get(api), r);
        REQUIRE(run_until(ctx, [&] {
            for (auto& r : rs)
                if (!r.done)
                    return false;
            return true;
        }));
        for (auto& r : rs) {
            CHECK(!r.ec);
            CHECK(r.resp.status == 200);
        }
        CHECK(src.fetches() == 2);
        CHECK(api.stats().rejected <= 50);
    }
    SECTION("still rejected after the replay: the 401 is the answer, no loop") {
        api.stats().reject_all = true;
        call_result r;
        start_call(s, get(api), r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        REQUIRE(!r.ec);
        CHECK(r.resp.status == 401);
        CHECK(api.stats().requests == 3);
        CHECK(src.fetches() == 2);
    }
    SECTION("401 without invalid_token is not replayed") {
        api.stats().reject_all = true;
        api.stats().challenge = R"(Bearer error="insufficient_scope")";
        call_result r;
        start_call(s, get(api), r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        CHECK(r.resp.status == 401);
        CHECK(api.stats().requests == 2);
        CHECK(src.fetches() == 1);
        CHECK(s.cached_token().value() == "at-1");
    }
}

TEST_CASE("session call: per-call timeout, token errors, session gone", "[session][call]") {
    asio::io_context ctx;
    bearer_api api(ctx.get_executor());
    http_source src(ctx.get_executor());

    SECTION("timeout while the token is being fetched") {
        src.st()->delay = 2000ms;
        api_session s(src, opts());
        call_result r;
        oidc::call_options co;
        co.timeout = 50ms;
        auto t0 = std::chrono::steady_clock::now();
        start_call(s, get(api), r, co);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        CHECK(r.ec == oidc::errc::timed_out);
        CHECK(std::chrono::steady_clock::now() - t0 < 1000ms);
        CHECK(api.stats().requests == 0);
    }
    SECTION("the token error is the call's error") {
        src.st()->script.push_back(oidc_test::fail_with(oidc::errc::invalid_client, 401));
        api_session s(src, opts());
        call_result r;
        start_call(s, get(api), r);
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        CHECK(r.ec == oidc::errc::invalid_client);
        CHECK(api.stats().requests == 0);
    }
    SECTION("destroying the session aborts a call waiting for its token") {
        src.st()->manual = true;
        call_result r;
        {
            api_session s(src, opts());
            start_call(s, get(api), r);
            ctx.restart();
            ctx.poll();
        }
        REQUIRE(run_until(ctx, [&] { return r.done; }));
        CHECK(r.ec == asio::error::operation_aborted);
        src.release();
    }
    SECTION("use_awaitable") {
        api_session s(src, opts());
        int status = 0;
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                auto resp = co_await s.call(get(api));
                status = resp.status;
            },
            asio::detached);
        REQUIRE(run_until(ctx, [&] { return status != 0; }));
        CHECK(status == 200);
    }
}
