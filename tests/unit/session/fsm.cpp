// The pure decisions of the session (include/oidc/detail/session_fsm.hpp).
#include <oidc/detail/session_fsm.hpp>

#include "catch.hpp"

#include <asio/error.hpp>

using namespace std::chrono_literals;

using oidc::errc;
using oidc::fetch_kind;
using oidc::detail::failure_class;
using oidc::detail::next_step;

namespace {
oidc::token_set tokens(oidc::clock::time_point now, oidc::clock::duration ttl, std::string rt = {},
                       std::optional<oidc::clock::duration> rttl = std::nullopt) {
    oidc::token_set t;
    t.access_token = "at";
    t.token_type = "Bearer";
    t.received_at = now;
    t.expires_at = now + ttl;
    t.refresh_token = std::move(rt);
    if (rttl)
        t.refresh_expires_at = now + *rttl;
    return t;
}
} // namespace

TEST_CASE("session fsm: refresh token while valid, else grant, else reauthenticate",
          "[session][fsm]") {
    using oidc::detail::decide_fetch;
    const auto now = oidc::clock::now();
    auto live = tokens(now - 10s, 5s, "rt", 60s);
    auto dead = tokens(now - 100s, 5s, "rt", 60s);
    auto none = tokens(now - 10s, 5s);
    auto forever = tokens(now - 10s, 5s, "rt"); // no refresh_expires_at: valid
    CHECK(decide_fetch(nullptr, now, false, false) == next_step::fetch_grant);
    CHECK(decide_fetch(nullptr, now, true, false) == next_step::reauthenticate);
    CHECK(decide_fetch(&live, now, false, false) == next_step::fetch_refresh);
    CHECK(decide_fetch(&live, now, true, false) == next_step::fetch_refresh);
    CHECK(decide_fetch(&live, now, false, true) == next_step::fetch_grant);
    CHECK(decide_fetch(&live, now, true, true) == next_step::reauthenticate);
    CHECK(decide_fetch(&dead, now, false, false) == next_step::fetch_grant);
    CHECK(decide_fetch(&dead, now, true, false) == next_step::reauthenticate);
    CHECK(decide_fetch(&none, now, false, false) == next_step::fetch_grant);
    CHECK(decide_fetch(&forever, now, false, false) == next_step::fetch_refresh);
}

TEST_CASE("session fsm: transient and permanent failures", "[session][fsm]") {
    using oidc::detail::classify_failure;
    auto c = [](std::error_code ec, fetch_kind k = fetch_kind::grant, int st = 0) {
        return classify_failure(ec, k, st);
    };
    CHECK(c(errc::invalid_grant, fetch_kind::refresh) == failure_class::refresh_rejected);
    CHECK(c(errc::invalid_grant, fetch_kind::grant) == failure_class::permanent);
    CHECK(c(errc::invalid_client) == failure_class::permanent);
    CHECK(c(errc::invalid_client, fetch_kind::refresh) == failure_class::permanent);
    CHECK(c(errc::unauthorized_client) == failure_class::permanent);
    CHECK(c(errc::tls_certificate_untrusted) == failure_class::permanent);
    CHECK(c(errc::server_error) == failure_class::transient);
    CHECK(c(errc::temporarily_unavailable) == failure_class::transient);
    CHECK(c(errc::timed_out) == failure_class::transient);
    CHECK(c(errc::http_truncated) == failure_class::transient);
    CHECK(c(errc::http_status_unexpected, fetch_kind::grant, 503) == failure_class::transient);
    CHECK(c(errc::http_status_unexpected, fetch_kind::grant, 429) == failure_class::transient);
    CHECK(c(errc::http_status_unexpected, fetch_kind::grant, 404) == failure_class::permanent);
    CHECK(c(asio::error::connection_refused) == failure_class::transient);
    CHECK(c(asio::error::connection_reset) == failure_class::transient);
    CHECK(c(asio::error::eof) == failure_class::transient);
    CHECK(c(asio::error::host_not_found) == failure_class::transient);
    CHECK(c(asio::error::operation_aborted) == failure_class::aborted);
}

TEST_CASE("session fsm: exponential backoff, capped, with bounded jitter", "[session][fsm]") {
    using oidc::detail::backoff_delay;
    oidc::backoff_options o;
    o.initial = 100ms;
    o.multiplier = 2;
    o.max = 1000ms;
    o.jitter = 0;
    CHECK(backoff_delay(1, o, 0.3) == 100ms);
    CHECK(backoff_delay(2, o, 0.3) == 200ms);
    CHECK(backoff_delay(3, o, 0.3) == 400ms);
    CHECK(backoff_delay(4, o, 0.3) == 800ms);
    CHECK(backoff_delay(5, o, 0.3) == 1000ms);
    CHECK(backoff_delay(1000, o, 0.3) == 1000ms); // no overflow
    CHECK(backoff_delay(0, o, 0.3) == 100ms);
    o.jitter = 0.5;
    CHECK(backoff_delay(3, o, 0.0) == 200ms);
    CHECK(backoff_delay(3, o, 0.999) <= 400ms);
    CHECK(backoff_delay(3, o, 0.999) >= 399ms);
    CHECK(backoff_delay(50, o, 0.999) <= 1000ms);
    o.jitter = 7; // clamped to 1: full jitter
    CHECK(backoff_delay(2, o, 0.0) == 0ms);
}

TEST_CASE("session fsm: margin, stale instant, proactive instant", "[session][fsm]") {
    using namespace oidc::detail;
    const auto now = oidc::clock::now();
    auto t = tokens(now, 300s);
    CHECK(effective_margin(t, 5s, 0.1) == 35s);
    CHECK(*stale_at(t, 5s, 0.1) == now + 265s);
    auto shortlived = tokens(now, 2s);
    CHECK(effective_margin(shortlived, 5s, 0.1) == 1s); // at most half the lifetime
    oidc::token_set noexp;
    noexp.access_token = "x";
    CHECK_FALSE(stale_at(noexp, 5s, 0.1).has_value());
    CHECK_FALSE(proactive_at(noexp, 5s, 0.1, 0.75, 0.05, 0.5).has_value());
    auto p = proactive_at(t, 5s, 0.1, 0.75, 0.0, 0.5);
    REQUIRE(p);
    CHECK(*p == std::min(now + 225s, now + 265s));
    auto pj = proactive_at(t, 5s, 0.1, 0.75, 0.1, 0.999);
    CHECK(*pj < now + 225s);
    CHECK(*pj > now + 194s);
    auto late = proactive_at(t, 5s, 0.1, 0.99, 0.0, 0.0);
    CHECK(*late == now + 265s); // never after the token turns stale
}

TEST_CASE("session fsm: WWW-Authenticate Bearer error=invalid_token", "[session][fsm]") {
    using oidc::detail::challenge_says_invalid_token;
    CHECK(challenge_says_invalid_token(R"(Bearer error="invalid_token")"));
    CHECK(challenge_says_invalid_token(
        R"(Bearer realm="api", error="invalid_token", error_description="The token expired")"));
    CHECK(challenge_says_invalid_token("bearer error=invalid_token"));
    CHECK(challenge_says_invalid_token(R"(Basic realm="x", Bearer error="invalid_token")"));
    CHECK_FALSE(challenge_says_invalid_token(R"(Bearer error="insufficient_scope")"));
    CHECK_FALSE(challenge_says_invalid_token(R"(Bearer realm="api")"));
    CHECK_FALSE(challenge_says_invalid_token(R"(Basic error="invalid_token")"));
    CHECK_FALSE(challenge_says_invalid_token(R"(Bearer error_description="invalid_token")"));
    CHECK_FALSE(challenge_says_invalid_token(R"(Bearer error="invalid_token)")); // unclosed
    CHECK_FALSE(challenge_says_invalid_token(""));
    CHECK_FALSE(challenge_says_invalid_token("Bearer error=\"invalid_\\"));

    oidc::http::response r;
    r.status = 401;
    r.headers.add("WWW-Authenticate", R"(Basic realm="x")");
    CHECK_FALSE(oidc::detail::is_invalid_token_response(r));
    r.headers.add("www-authenticate", R"(Bearer error="invalid_token")");
    CHECK(oidc::detail::is_invalid_token_response(r));
    r.status = 403;
    CHECK_FALSE(oidc::detail::is_invalid_token_response(r));
}
