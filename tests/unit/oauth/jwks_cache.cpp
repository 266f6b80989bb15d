#include <oidc/jwks_cache.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {
const std::chrono::steady_clock::time_point t0{std::chrono::hours(1000)};
} // namespace

TEST_CASE("jwks_cache: Cache-Control max-age within bounds", "[oauth][jwks_cache]") {
    oidc::jwks_cache_options o; // default 300, [60, 86400]
    CHECK(oidc::jwks_ttl("", o) == 300s);
    CHECK(oidc::jwks_ttl("public, max-age=3600", o) == 3600s);
    CHECK(oidc::jwks_ttl("Max-Age=7200, must-revalidate", o) == 7200s);
    CHECK(oidc::jwks_ttl("max-age=5", o) == 60s);
    CHECK(oidc::jwks_ttl("max-age=999999999", o) == 86400s);
    CHECK(oidc::jwks_ttl("no-store", o) == 60s);
    CHECK(oidc::jwks_ttl("no-cache, max-age=3600", o) == 60s);
    CHECK(oidc::jwks_ttl("max-age=abc", o) == 300s);
    CHECK(oidc::jwks_ttl("max-age=", o) == 300s);
    CHECK(oidc::jwks_ttl("max-age=\"120\"", o) == 120s);
    CHECK(oidc::jwks_ttl("s-maxage=10", o) == 300s);
}

TEST_CASE("jwks_cache: fetch decisions", "[oauth][jwks_cache]") {
    using oidc::jwks_action;
    oidc::jwks_cache_options o; // cooldown 30 s
    oidc::jwks_cache_view v;
    CHECK(oidc::decide_jwks(v, t0, o) == jwks_action::fetch); // nothing cached

    v.have_keys = true;
    v.attempted = true;
    v.last_attempt = t0;
    v.expires_at = t0 + 300s;
    CHECK(oidc::decide_jwks(v, t0 + 10s, o) == jwks_action::use_cached);
    CHECK(oidc::decide_jwks(v, t0 + 301s, o) == jwks_action::fetch); // expired

    // Unknown kid: one refetch, then at most one per cooldown.
    v.kid_known = false;
    CHECK(oidc::decide_jwks(v, t0 + 10s, o) == jwks_action::use_cached); // fetched 10 s ago
    CHECK(oidc::decide_jwks(v, t0 + 31s, o) == jwks_action::fetch);

    // A failed refresh: stale keys answer until the cooldown passes.
    v.kid_known = true;
    v.last_failed = true;
    v.last_attempt = t0 + 301s;
    CHECK(oidc::decide_jwks(v, t0 + 310s, o) == jwks_action::use_cached);
    CHECK(oidc::decide_jwks(v, t0 + 332s, o) == jwks_action::fetch);

    // Nothing cached and the last fetch failed: no hammering within the cooldown.
    v.have_keys = false;
    CHECK(oidc::decide_jwks(v, t0 + 310s, o) == jwks_action::use_cached);
    CHECK(oidc::decide_jwks(v, t0 + 332s, o) == jwks_action::fetch);
}
