// libFuzzer target: the claims path of JWT validation. The input is the claims JSON; it is
// signed inside the fuzzer with a fixed HS256 key, then validated with options that turn on
// every rule (the first input byte picks the profile and the optional checks). Checks:
// - claims::parse (a hand-written single-pass reader) accepts exactly the JSON texts that the
//   strict simdjson-based reader detail::json::parse_object accepts (differential);
// - claims::parse (with its plain-text fast paths) and claims::parse_reference (every byte
//   checked one by one) give the same result and the same claims; plain_scan's scalar, SSE2
//   and AVX2 versions agree;
// - an accepted claims set round-trips: to_json() parses back to the same text;
// - validate() never accepts without the configured issuer and audience, and leaves no claims
//   behind when it fails; its error is the one of the sequential order (typ, the read, the
//   claim rules), and a MAC one character off is signature_invalid.
#include <oidc/detail/json.hpp>
#include <oidc/jose/jwt.hpp>

#include <cstdio>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace jose = oidc::jose;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const jose::jwk key = jose::jwk::from_secret("fuzz-claims-secret-0123456789abcdef");
    static const jose::jwk_set keys = [] {
        jose::jwk_set s;
        s.add(key);
        return s;
    }();
    if (size > 12000)
        return 0;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    unsigned sel = size ? static_cast<unsigned char>(in[0]) : 0;

    // 1. claims::parse alone, against the simdjson reader, and the typed view.
    jose::claims c;
    const auto cec = jose::claims::parse(in, c);
    oidc::detail::json::value tree;
    const auto jec = oidc::detail::json::parse_object(in, tree);
    const bool claims_json_ok = !cec || cec == oidc::errc::claim_invalid;
    if (claims_json_ok != !jec) {
        std::fprintf(stderr, "claims::parse: %s, json::parse_object: %s\n", cec.message().c_str(),
                     jec.message().c_str());
        std::abort();
    }
    jose::claims ref;
    if (jose::claims::parse_reference(in, ref) != cec || ref.to_json() != c.to_json() ||
        ref.size() != c.size())
        std::abort(); // the fast paths must read exactly what the reference reads
    for (std::size_t i = 0; i < c.size(); ++i) {
        const std::string_view n = c.name_at(i);
        if (n != ref.name_at(i) || c.get_string(n) != ref.get_string(n) ||
            c.type(n) != ref.type(n) || c.get_number(n) != ref.get_number(n))
            std::abort();
    }
    {
        std::vector<std::uint64_t> a, b;
        const auto ra = jose::detail::plain_scan_scalar(in, a);
        const auto rb = jose::detail::plain_scan(in, b);
        if (ra != rb || (ra != jose::detail::text_checked && a != b))
            std::abort();
    }
    if (!cec) {
        (void)c.iss();
        (void)c.aud();
        (void)c.exp();
        (void)c.has_scope("openid");
        (void)c.get_int("exp");
        (void)c.get_string_array("groups");
        for (std::size_t i = 0; i < c.size(); ++i)
            (void)c.raw(c.name_at(i));
        std::string j = c.to_json();
        jose::claims again;
        if (jose::claims::parse(j, again) || again.to_json() != j)
            std::abort(); // the serialization must be stable and strict-JSON
    }

    // 2. The full path: sign, then validate.
    std::string token;
    if (jose::sign_compact(jose::alg::HS256, key, in, token, (sel & 4) ? "at+jwt" : ""))
        return 0;
    jose::validation_options o;
    o.issuer = "https://issuer.example";
    o.audiences = {"api"};
    o.algorithms = {jose::alg::HS256};
    o.limits.max_token_bytes = 32 * 1024;
    o.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    };
    if (sel & 1) {
        o.kind = jose::validation_options::profile::id_token;
        o.client_id = "api";
        o.trusted_audiences = {"other"};
    }
    if (sel & 2)
        o.nonce = "n";
    if (sel & 8)
        o.access_token = "at";
    if (sel & 16)
        o.code = "code";
    if (sel & 32)
        o.kind = jose::validation_options::profile::access_token;
    o.require_exp = (sel & 64) == 0;
    if (sel & 128)
        o.max_age = std::chrono::seconds(300);
    jose::claims out;
    auto ec = jose::validate(token, keys, o, out);
    if (!ec && (out.iss() != o.issuer || out.aud().empty()))
        std::abort(); // accepted without the issuer or an audience
    if (!ec && o.max_age && (!out.auth_time() || *out.auth_time() < 1700000000 - 300 - 60))
        std::abort(); // max_age requested: auth_time present and recent enough
    if (ec && out.size() != 0)
        std::abort(); // claims must be cleared on failure
    // validate() (HS256: the MAC computed along the claims read) reports what the sequential
    // order reports: typ, then the read, then the claim rules.
    std::error_code want = jose::check_typ((sel & 4) ? "at+jwt" : "", o);
    if (!want)
        want = cec;
    if (!want)
        want = jose::check_claims(c, jose::alg::HS256, o);
    if (ec != want || (!ec && out.to_json() != c.to_json()))
        std::abort();
    // A MAC one bit off: refused as such, whatever the claims.
    std::string forged = token;
    char& m = forged[forged.size() - 10];
    m = m == 'A' ? 'B' : 'A';
    if (jose::validate(forged, keys, o, out) != oidc::errc::signature_invalid || out.size() != 0)
        std::abort();
    return 0;
}
