// Tests of include/oidc/jose/jwt.hpp and claims.hpp: claims view and validation rules.
#include <oidc/jose/jwt.hpp>

#include "catch.hpp"
#include "fixtures.hpp"

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>

namespace jose = oidc::jose;
namespace json = oidc::detail::json;
using oidc::errc;
using opts = jose::validation_options;

namespace {

constexpr std::int64_t T = 1'700'000'000; // the injected "now"
const std::string iss = "https://issuer.example/realms/r";

// Keys of tests/fixtures/rfc/jws_examples.json (RFC 7515 A.1-A.3, RFC 8037 A, RFC 7520 4).
struct keyring {
    jose::jwk rsa, rsa_pub, rsa_other, rsa_other_pub, ec, ec_pub, ed, ed_pub, oct;
    keyring() {
        json::value all;
        // The fixture is a JSON array: wrap it to read it with the object parser.
        auto text = "{\"a\":" + oidc_test::read_fixture("rfc/jws_examples.json") + "}";
        if (json::parse_object(text, all, {.max_bytes = 1 << 22}))
            throw std::runtime_error("fixture");
        auto get = [&](std::string_view name, std::string_view member) {
            for (const auto& e : all.find("a")->as_array())
                if (*e.find_string("name") == name) {
                    jose::jwk k;
                    if (jose::jwk::parse(json::dump(*e.find(member)), k))
                        throw std::runtime_error("fixture key");
                    return k;
                }
            throw std::runtime_error("fixture entry");
        };
        rsa = get("RFC7515-A.2-RS256", "jwk_private");
        rsa_pub = get("RFC7515-A.2-RS256", "jwk");
        rsa_other = get("RFC7520-4.1-RS256", "jwk_private");
        rsa_other_pub = get("RFC7520-4.1-RS256", "jwk");
        ec = get("RFC7515-A.3-ES256", "jwk_private");
        ec_pub = get("RFC7515-A.3-ES256", "jwk");
        ed = get("RFC8037-A.4-EdDSA-Ed25519", "jwk_private");
        ed_pub = get("RFC8037-A.4-EdDSA-Ed25519", "jwk");
        oct = get("RFC7515-A.1-HS256", "jwk");
    }
};

const keyring& keys() {
    static const keyring k;
    return k;
}

jose::jwk_set public_set() {
    jose::jwk_set s;
    s.add(keys().rsa_pub);
    s.add(keys().ec_pub);
    s.add(keys().ed_pub);
    s.add(keys().oct);
    return s;
}

std::string sign(std::string_view payload, jose::alg a = jose::alg::RS256,
                 const jose::jwk* key = nullptr, std::string_view typ = {}) {
    if (!key) {
        switch (a) {
        case jose::alg::ES256:
            key = &keys().ec;
            break;
        case jose::alg::EdDSA:
            key = &keys().ed;
            break;
        case jose::alg::HS256:
            key = &keys().oct;
            break;
        default:
            key = &keys().rsa;
        }
    }
    std::string out;
    auto ec = jose::sign_compact(a, *key, payload, out, typ);
    if (ec)
        throw std::runtime_error("sign: " + ec.message());
    return out;
}

opts options() {
    opts o;
    o.issuer = iss;
    o.audiences = {"api"};
    o.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(T));
    };
    return o;
}

// A claims set: the base members plus `extra` (raw JSON members, "" for none); a base member
// is dropped by naming it in `drop`.
std::string payload(std::string extra = "", std::initializer_list<std::string_view> drop = {}) {
    std::map<std::string, std::string> m{
        {"iss", "\"" + iss + "\""},
        {"aud", "\"api\""},
        {"sub", "\"u-1\""},
        {"exp", std::to_string(T + 300)},
        {"iat", std::to_string(T - 10)},
    };
    for (auto d : drop)
        m.erase(std::string(d));
    std::string s = "{";
    for (const auto& [k, v] : m) {
        if (s.size() > 1)
            s += ",";
        s += "\"" + k + "\":" + v;
    }
    if (!extra.empty())
        s += (s.size() > 1 ? "," : "") + extra;
    return s + "}";
}

std::error_code check(const std::string& token, const opts& o = options()) {
    jose::claims c;
    return jose::validate(token, public_set(), o, c);
}

// A realistic Keycloak access token payload (compare the seed 000_*).
std::string keycloak_payload() {
    return R"({"jti":"4da16154-8f42-4274-9387-08bb8982a713","exp":)" + std::to_string(T + 1800) +
           R"(,"nbf":0,"iat":)" + std::to_string(T - 60) + R"(,"iss":")" + iss +
           R"(","aud":"account","sub":"c848abbb-a228-42c1-ad70-b2b010c8e851","typ":"Bearer",)"
           R"("azp":"ea-api-edge","auth_time":0,"session_state":"9ba3aaf4-3b54-49e7-92b0-19900d15a9eb",)"
           R"("acr":"1","realm_access":{"roles":["offline_access","uma_authorization","ADMIN","USER"]},)"
           R"("resource_access":{"account":{"roles":["manage-account","manage-account-links","view-profile"]}},)"
           R"("scope":"profile email","account_ids":"118466","email_verified":true,)"
           R"("name":"Vincent D\u00e9mo","preferred_username":"v.demo@example.com",)"
           R"("given_name":"Vincent","family_name":"DEMO","email":"v.demo@example.com","ratio":0.5})";
}

} // namespace

TEST_CASE("jwt: a Keycloak-style access token validates and reads through the typed view",
          "[jwt]") {
    auto o = options();
    o.audiences = {"account"};
    jose::claims c;
    REQUIRE_FALSE(jose::validate(sign(keycloak_payload()), public_set(), o, c));
    CHECK(c.iss() == iss);
    CHECK(c.sub() == "c848abbb-a228-42c1-ad70-b2b010c8e851");
    REQUIRE(c.aud().size() == 1);
    CHECK(c.aud()[0] == "account");
    CHECK(c.exp() == T + 1800);
    CHECK(c.iat() == T - 60);
    CHECK(c.nbf() == 0);
    CHECK(c.auth_time() == 0);
    CHECK(c.jti() == "4da16154-8f42-4274-9387-08bb8982a713");
    CHECK(c.azp() == "ea-api-edge");
    CHECK(c.acr() == "1");
    CHECK(c.scope() == "profile email");
    CHECK(c.has_scope("email"));
    CHECK(c.has_scope("profile"));
    CHECK_FALSE(c.has_scope("openid"));
    CHECK_FALSE(c.has_scope("prof"));
    CHECK(c.email() == "v.demo@example.com");
    CHECK(c.name() == "Vincent D\xc3\xa9mo");
    CHECK(c.preferred_username() == "v.demo@example.com");
    CHECK(c.nonce().empty());
    CHECK_FALSE(c.contains("nonce"));
    CHECK(c.get_string("session_state") == "9ba3aaf4-3b54-49e7-92b0-19900d15a9eb");
    CHECK(c.get_bool("email_verified") == true);
    CHECK_FALSE(c.get_bool("email").has_value());
    CHECK(c.get_int("exp") == T + 1800);
    CHECK_FALSE(c.get_int("ratio").has_value());
    CHECK(c.get_number("ratio") == 0.5);
    CHECK_FALSE(c.get_string("missing").has_value());
    CHECK(c.type("realm_access") == jose::claim_type::object);
    CHECK(c.raw("realm_access") ==
          R"({"roles":["offline_access","uma_authorization","ADMIN","USER"]})");
    CHECK(c.raw("resource_access") ==
          R"({"account":{"roles":["manage-account","manage-account-links","view-profile"]}})");
    CHECK(c.raw("email_verified") == "true");
    CHECK(c.raw("ratio") == "0.5");
    CHECK(c.raw("name") == "\"Vincent D\\u00e9mo\""); // as written
    CHECK(c.raw("missing").empty());
    CHECK(c.size() == 23);
    CHECK(c.name_at(0) == "jti");
    // to_json is the same claims set, compact: it parses back to equal values.
    json::value a, b;
    REQUIRE_FALSE(json::parse_object(c.to_json(), a));
    REQUIRE_FALSE(json::parse_object(keycloak_payload(), b));
    CHECK(a == b);
}

TEST_CASE("jwt: the claims object is reusable and cleared on failure", "[jwt]") {
    jose::claims c;
    auto o = options();
    for (int i = 0; i < 3; ++i) {
        REQUIRE_FALSE(jose::validate(sign(payload()), public_set(), o, c));
        CHECK(c.sub() == "u-1");
        CHECK(jose::validate(sign(payload("", {"iss"})), public_set(), o, c) ==
              errc::claim_missing);
        CHECK(c.size() == 0);
        CHECK(c.sub().empty());
        CHECK(c.aud().empty());
    }
}

TEST_CASE("jwt: every signature algorithm validates with its key", "[jwt]") {
    auto o = options();
    o.algorithms = {jose::alg::RS256, jose::alg::PS256, jose::alg::ES256, jose::alg::EdDSA,
                    jose::alg::HS256};
    CHECK_FALSE(check(sign(payload(), jose::alg::RS256), o));
    CHECK_FALSE(check(sign(payload(), jose::alg::PS256), o));
    CHECK_FALSE(check(sign(payload(), jose::alg::ES256), o));
    CHECK_FALSE(check(sign(payload(), jose::alg::EdDSA), o));
    CHECK_FALSE(check(sign(payload(), jose::alg::HS256), o));
}

TEST_CASE("jwt: alg allowlist, key selection and signature", "[jwt]") {
    // Default allowlist: RS256 only.
    CHECK_FALSE(check(sign(payload())));
    CHECK(check(sign(payload(), jose::alg::ES256)) == errc::alg_not_allowed);
    CHECK(check(sign(payload(), jose::alg::HS256)) == errc::alg_not_allowed);
    CHECK(check(sign(payload(), jose::alg::PS256)) == errc::alg_not_allowed);
    auto o = options();
    o.algorithms = {jose::alg::ES256};
    CHECK_FALSE(check(sign(payload(), jose::alg::ES256), o));
    CHECK(check(sign(payload()), o) == errc::alg_not_allowed);
    // Signed by a key that is not in the set: its kid is unknown.
    CHECK(check(sign(payload(), jose::alg::RS256, &keys().rsa_other)) == errc::key_not_found);
    // The same kid-less RSA key slot, another key: the signature fails.
    jose::jwk_set only_other;
    only_other.add(keys().rsa_other_pub);
    jose::claims c;
    CHECK(jose::validate(sign(payload()), only_other, options(), c) == errc::signature_invalid);
    // An empty key set.
    CHECK(jose::validate(sign(payload()), jose::jwk_set(), options(), c) == errc::key_not_found);
    // Tampering.
    std::string t = sign(payload());
    auto dot = t.find('.');
    std::string other = sign(payload("\"x\":1"));
    std::string swapped = t.substr(0, t.rfind('.')) + other.substr(other.rfind('.'));
    CHECK(check(swapped) == errc::signature_invalid);
    std::string flipped = t;
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    CHECK(check(flipped) != std::error_code());
    CHECK(check(t.substr(0, dot)) == errc::jws_malformed);
    CHECK(check("") != std::error_code());
    // alg none is never accepted, whatever the allowlist says.
    std::string none =
        jose::base64url_encode(R"({"alg":"none"})") + "." + jose::base64url_encode(payload()) + ".";
    CHECK(check(none) == errc::alg_none);
}

TEST_CASE("jwt: a signed payload that is not a strict JSON object is refused", "[jwt]") {
    CHECK(check(sign("not json")) == errc::json_invalid);
    CHECK(check(sign("[1,2]")) == errc::json_invalid);
    CHECK(check(sign(payload() + " x")) == errc::json_invalid);
    CHECK(check(sign("{\"iss\":\"\xff\"}")) == errc::json_invalid);
    CHECK(check(sign(payload("\"sub\":\"dup\""))) == errc::json_duplicate_member);
    CHECK(check(sign(payload("\"o\":{\"a\":1,\"a\":2}"))) == errc::json_duplicate_member);
    CHECK(check(sign(payload("\"o\":[{\"a\":1},{\"b\":1,\"b\":1}]"))) ==
          errc::json_duplicate_member);
    CHECK(check(sign(payload("\"n\":1e999"))) == errc::json_invalid);
    std::string deep = std::string(40, '[') + std::string(40, ']');
    CHECK(check(sign(payload("\"d\":" + deep))) == errc::json_invalid);
    std::string ok_deep = std::string(20, '[') + std::string(20, ']');
    CHECK_FALSE(check(sign(payload("\"d\":" + ok_deep))));
}

TEST_CASE("jwt: token size bound", "[jwt]") {
    std::string big(20000, 'a');
    CHECK(check(sign(payload("\"pad\":\"" + big + "\""))) == errc::input_too_large);
    auto o = options();
    o.limits.max_token_bytes = 64 * 1024;
    CHECK_FALSE(check(sign(payload("\"pad\":\"" + big + "\"")), o));
    CHECK(check(std::string(100000, 'a'), o) == errc::input_too_large);
}

TEST_CASE("jwt: issuer", "[jwt]") {
    CHECK(check(sign(payload("", {"iss"}))) == errc::claim_missing);
    CHECK(check(sign(payload("\"iss\":\"https://issuer.example/realms/r/\"", {"iss"}))) ==
          errc::issuer_mismatch);
    CHECK(check(sign(payload("\"iss\":\"HTTPS://issuer.example/realms/r\"", {"iss"}))) ==
          errc::issuer_mismatch);
    CHECK(check(sign(payload("\"iss\":42", {"iss"}))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"iss\":null", {"iss"}))) == errc::claim_invalid);
    auto o = options();
    o.issuer.clear(); // an unconfigured issuer matches nothing
    CHECK(check(sign(payload()), o) == errc::issuer_mismatch);
    CHECK(check(sign(payload("\"iss\":\"\"", {"iss"})), o) == errc::issuer_mismatch);
}

TEST_CASE("jwt: audience as string or array", "[jwt]") {
    CHECK_FALSE(check(sign(payload("\"aud\":[\"api\"]", {"aud"}))));
    CHECK_FALSE(check(sign(payload("\"aud\":[\"other\",\"api\"]", {"aud"}))));
    CHECK(check(sign(payload("\"aud\":\"other\"", {"aud"}))) == errc::audience_mismatch);
    CHECK(check(sign(payload("\"aud\":[\"other\",\"API\"]", {"aud"}))) == errc::audience_mismatch);
    CHECK(check(sign(payload("\"aud\":[]", {"aud"}))) == errc::audience_mismatch);
    CHECK(check(sign(payload("", {"aud"}))) == errc::claim_missing);
    CHECK(check(sign(payload("\"aud\":42", {"aud"}))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"aud\":[\"api\",1]", {"aud"}))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"aud\":{\"a\":\"api\"}", {"aud"}))) == errc::claim_invalid);
    auto o = options();
    o.audiences = {"x", "api"};
    CHECK_FALSE(check(sign(payload()), o));
    o.audiences.clear(); // no accepted audience: nothing passes
    CHECK(check(sign(payload()), o) == errc::audience_mismatch);
    // Plain JWT profile: extra audiences are allowed.
    jose::claims c;
    REQUIRE_FALSE(jose::validate(sign(payload("\"aud\":[\"a\",\"api\",\"b\"]", {"aud"})),
                                 public_set(), options(), c));
    CHECK(c.aud() == std::vector<std::string>{"a", "api", "b"});
}

TEST_CASE("jwt: exp with leeway edges and an injected clock", "[jwt]") {
    auto at = [](std::int64_t now, std::int64_t leeway = 60) {
        auto o = options();
        o.leeway = std::chrono::seconds(leeway);
        o.clock = [now] {
            return std::chrono::system_clock::time_point(std::chrono::seconds(now));
        };
        return o;
    };
    const std::string t = sign(payload("\"exp\":" + std::to_string(T), {"exp"}));
    CHECK_FALSE(check(t, at(T - 1, 0)));
    CHECK(check(t, at(T, 0)) == errc::token_expired); // exactly at exp
    CHECK_FALSE(check(t, at(T + 59)));
    CHECK(check(t, at(T + 60)) == errc::token_expired); // exactly at exp + leeway
    CHECK(check(t, at(T + 61)) == errc::token_expired);
    // Sub-second clock: 0.5 s before exp is still valid.
    auto o = at(T, 0);
    o.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(T)) -
               std::chrono::milliseconds(500);
    };
    CHECK_FALSE(check(t, o));
    // exp required by default; optional when asked.
    CHECK(check(sign(payload("", {"exp"}))) == errc::claim_missing);
    o = options();
    o.require_exp = false;
    CHECK_FALSE(check(sign(payload("", {"exp"})), o));
    // NumericDate may be non-integer.
    const std::string frac = sign(payload("\"exp\":" + std::to_string(T) + ".5", {"exp"}));
    CHECK_FALSE(check(frac, at(T, 0)));
    CHECK(check(frac, at(T + 1, 0)) == errc::token_expired);
    jose::claims c;
    REQUIRE_FALSE(jose::validate(frac, public_set(), at(T, 0), c));
    CHECK(c.exp() == T);
    CHECK(c.get_number("exp") == static_cast<double>(T) + 0.5);
    CHECK_FALSE(check(sign(payload("\"exp\":1.7e10", {"exp"}))));
    CHECK(check(sign(payload("\"exp\":-1", {"exp"}))) == errc::token_expired);
    // Wrong types.
    CHECK(check(sign(payload("\"exp\":\"1800000000\"", {"exp"}))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"exp\":null", {"exp"}))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"exp\":true", {"exp"}))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"exp\":[1]", {"exp"}))) == errc::claim_invalid);
}

TEST_CASE("jwt: the system clock is the default", "[jwt]") {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    auto o = options();
    o.clock = nullptr;
    std::string p = "{\"iss\":\"" + iss +
                    "\",\"aud\":\"api\",\"exp\":" + std::to_string(now + 600) +
                    ",\"iat\":" + std::to_string(now) + "}";
    CHECK_FALSE(check(sign(p), o));
    p = "{\"iss\":\"" + iss + "\",\"aud\":\"api\",\"exp\":" + std::to_string(now - 600) + "}";
    CHECK(check(sign(p), o) == errc::token_expired);
}

TEST_CASE("jwt: nbf and iat with leeway", "[jwt]") {
    auto o = options(); // now = T, leeway 60
    CHECK_FALSE(check(sign(payload("\"nbf\":" + std::to_string(T + 60))), o));
    CHECK(check(sign(payload("\"nbf\":" + std::to_string(T + 61))), o) ==
          errc::token_not_yet_valid);
    CHECK_FALSE(check(sign(payload("\"nbf\":" + std::to_string(T))), o));
    CHECK_FALSE(check(sign(payload("\"nbf\":" + std::to_string(T + 60) + ".0")), o));
    CHECK(check(sign(payload("\"nbf\":" + std::to_string(T + 60) + ".25")), o) ==
          errc::token_not_yet_valid);
    CHECK(check(sign(payload("\"nbf\":\"0\""))) == errc::claim_invalid);

    CHECK_FALSE(check(sign(payload("\"iat\":" + std::to_string(T + 60), {"iat"})), o));
    CHECK(check(sign(payload("\"iat\":" + std::to_string(T + 61), {"iat"})), o) ==
          errc::token_issued_in_future);
    CHECK(check(sign(payload("\"iat\":\"x\"", {"iat"}))) == errc::claim_invalid);
    CHECK_FALSE(check(sign(payload("", {"iat"}))));
    o.require_iat = true;
    CHECK(check(sign(payload("", {"iat"})), o) == errc::claim_missing);
    o.leeway = std::chrono::seconds(0);
    o.require_iat = false;
    CHECK(check(sign(payload("\"iat\":" + std::to_string(T + 1), {"iat"})), o) ==
          errc::token_issued_in_future);
    CHECK(check(sign(payload("\"nbf\":" + std::to_string(T + 1))), o) == errc::token_not_yet_valid);
}

TEST_CASE("jwt: sub and the other typed claims are type-checked", "[jwt]") {
    auto o = options();
    o.require_sub = true;
    CHECK(check(sign(payload("", {"sub"})), o) == errc::claim_missing);
    CHECK_FALSE(check(sign(payload("", {"sub"}))));
    for (const char* name :
         {"sub", "jti", "azp", "nonce", "acr", "sid", "at_hash", "c_hash", "scope", "client_id"}) {
        INFO(name);
        std::string n = name;
        CHECK(check(sign(payload("\"" + n + "\":1", {name}))) == errc::claim_invalid);
        CHECK(check(sign(payload("\"" + n + "\":[\"a\"]", {name}))) == errc::claim_invalid);
        CHECK_FALSE(check(sign(payload("\"" + n + "\":\"v\"", {name}))));
    }
    CHECK(check(sign(payload("\"auth_time\":\"1\""))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"amr\":\"pwd\""))) == errc::claim_invalid);
    CHECK(check(sign(payload("\"amr\":[\"pwd\",2]"))) == errc::claim_invalid);
    jose::claims c;
    REQUIRE_FALSE(jose::validate(sign(payload("\"amr\":[\"pwd\",\"otp\"],\"auth_time\":5")),
                                 public_set(), options(), c));
    CHECK(c.amr() == std::vector<std::string>{"pwd", "otp"});
    CHECK(c.auth_time() == 5);
    CHECK(c.get_string_array("amr") == std::vector<std::string>{"pwd", "otp"});
    // Claims outside the typed set keep any type.
    CHECK_FALSE(check(sign(payload("\"email\":1,\"name\":null,\"groups\":[1,\"a\"]"))));
}

TEST_CASE("jwt: nonce", "[jwt]") {
    auto o = options();
    o.nonce = "n-0S6_WzA2Mj";
    CHECK_FALSE(check(sign(payload("\"nonce\":\"n-0S6_WzA2Mj\"")), o));
    CHECK(check(sign(payload("\"nonce\":\"n-0S6_WzA2Mk\"")), o) == errc::nonce_mismatch);
    CHECK(check(sign(payload()), o) == errc::nonce_mismatch);
    CHECK(check(sign(payload("\"nonce\":\"\"")), o) == errc::nonce_mismatch);
    // Not expected: not checked.
    CHECK_FALSE(check(sign(payload("\"nonce\":\"anything\""))));
    o.nonce = "";
    CHECK_FALSE(check(sign(payload("\"nonce\":\"\"")), o));
    CHECK(check(sign(payload()), o) == errc::nonce_mismatch);
}

TEST_CASE("jwt: ID-token rules (OpenID Connect Core 3.1.3.7)", "[jwt]") {
    auto o = options();
    o.kind = opts::profile::id_token;
    o.client_id = "s6BhdRkqt3";
    o.audiences.clear(); // the client id is the audience
    o.trusted_audiences = {"trusted-rp"};
    auto idt = [](std::string extra, std::initializer_list<std::string_view> drop = {}) {
        return sign(payload(std::move(extra), drop));
    };
    CHECK_FALSE(check(idt("\"aud\":\"s6BhdRkqt3\"", {"aud"}), o));
    CHECK_FALSE(check(idt("\"aud\":[\"s6BhdRkqt3\"]", {"aud"}), o));
    CHECK_FALSE(check(idt("\"aud\":[\"s6BhdRkqt3\"],\"azp\":\"s6BhdRkqt3\"", {"aud"}), o));
    // Several audiences: azp required, equal to the client id, extra audiences trusted.
    CHECK_FALSE(
        check(idt("\"aud\":[\"s6BhdRkqt3\",\"trusted-rp\"],\"azp\":\"s6BhdRkqt3\"", {"aud"}), o));
    CHECK(check(idt("\"aud\":[\"s6BhdRkqt3\",\"trusted-rp\"]", {"aud"}), o) == errc::azp_mismatch);
    CHECK(check(idt("\"aud\":[\"s6BhdRkqt3\",\"trusted-rp\"],\"azp\":\"trusted-rp\"", {"aud"}),
                o) == errc::azp_mismatch);
    CHECK(check(idt("\"aud\":[\"s6BhdRkqt3\",\"evil\"],\"azp\":\"s6BhdRkqt3\"", {"aud"}), o) ==
          errc::audience_mismatch);
    CHECK(check(idt("\"aud\":\"s6BhdRkqt3\",\"azp\":\"other\"", {"aud"}), o) == errc::azp_mismatch);
    CHECK(check(idt("\"aud\":\"trusted-rp\"", {"aud"}), o) == errc::audience_mismatch);
    CHECK(check(idt("", {}), o) == errc::audience_mismatch); // aud "api"
    // sub, iat and exp are required in an ID token.
    CHECK(check(idt("\"aud\":\"s6BhdRkqt3\"", {"aud", "sub"}), o) == errc::claim_missing);
    CHECK(check(idt("\"aud\":\"s6BhdRkqt3\"", {"aud", "iat"}), o) == errc::claim_missing);
    auto o2 = o;
    o2.require_exp = false;
    CHECK(check(idt("\"aud\":\"s6BhdRkqt3\"", {"aud", "exp"}), o2) == errc::claim_missing);
    // Explicit audiences replace the client id as the accepted ones, the client id stays allowed.
    auto o3 = o;
    o3.audiences = {"api"};
    CHECK_FALSE(check(idt(""), o3));
    CHECK_FALSE(check(idt("\"aud\":[\"api\",\"s6BhdRkqt3\"],\"azp\":\"s6BhdRkqt3\"", {"aud"}), o3));
    // No client id configured: nothing matches.
    auto o4 = o;
    o4.client_id.clear();
    CHECK(check(idt("\"aud\":\"s6BhdRkqt3\"", {"aud"}), o4) == errc::audience_mismatch);
    // The plain profile never looks at azp.
    CHECK_FALSE(check(idt("\"azp\":\"someone-else\",\"aud\":[\"api\",\"x\"]", {"aud"})));
}

TEST_CASE("jwt: max_age and auth_time (OpenID Connect Core 3.1.3.7 #13)", "[jwt]") {
    auto o = options();
    o.kind = opts::profile::id_token;
    o.client_id = "app";
    o.audiences.clear();
    o.leeway = std::chrono::seconds(60);
    auto idt = [](std::string extra) {
        return sign(payload("\"aud\":\"app\"," + extra, {"aud"}));
    };
    auto at = [](std::int64_t t) {
        return "\"auth_time\":" + std::to_string(t);
    };
    // Not requested: auth_time is neither required nor compared.
    CHECK_FALSE(check(sign(payload("\"aud\":\"app\"", {"aud"})), o));
    CHECK_FALSE(check(idt(at(T - 100000)), o));
    CHECK_FALSE(check(idt("\"auth_time\":1.5"), o));

    o.max_age = std::chrono::seconds(300);
    CHECK_FALSE(check(idt(at(T - 10)), o));
    CHECK_FALSE(check(idt(at(T - 300)), o)); // exactly max_age
    CHECK_FALSE(check(idt(at(T - 360)), o)); // max_age + leeway: still accepted
    CHECK(check(idt(at(T - 361)), o) == errc::auth_too_old);
    CHECK(check(idt(at(T - 100000)), o) == errc::auth_too_old);
    CHECK_FALSE(check(idt(at(T + 30)), o)); // a clock a little ahead
    // Missing, or not an integer NumericDate.
    CHECK(check(sign(payload("\"aud\":\"app\"", {"aud"})), o) == errc::auth_time_missing);
    CHECK(check(idt("\"auth_time\":" + std::to_string(T - 10) + ".5"), o) ==
          errc::auth_time_missing);
    CHECK_FALSE(check(idt("\"auth_time\":" + std::to_string(T - 10) + ".0"), o));
    CHECK(check(idt("\"auth_time\":\"1700000000\""), o) == errc::claim_invalid);
    // max_age=0 (RFC: forces a fresh login) is still within the leeway right after login.
    o.max_age = std::chrono::seconds(0);
    CHECK_FALSE(check(idt(at(T - 5)), o));
    CHECK(check(idt(at(T - 61)), o) == errc::auth_too_old);
    o.leeway = std::chrono::seconds(0);
    CHECK(check(idt(at(T - 1)), o) == errc::auth_too_old);
    CHECK_FALSE(check(idt(at(T)), o));

    // require_auth_time alone: present is enough, any age.
    auto r = options();
    r.require_auth_time = true;
    CHECK_FALSE(check(sign(payload(at(T - 100000))), r));
    CHECK(check(sign(payload()), r) == errc::auth_time_missing);
    CHECK(check(sign(payload("\"auth_time\":17.25")), r) == errc::auth_time_missing);
    // The order: nonce is checked before auth_time.
    r.nonce = "n";
    CHECK(check(sign(payload()), r) == errc::nonce_mismatch);
    CHECK(std::error_code(errc::auth_too_old).message().find("re-authentication") !=
          std::string::npos);
}

TEST_CASE("jwt: at_hash and c_hash", "[jwt]") {
    // OpenID Connect Core A.4 / A.6: c_hash of the example code (RS256, SHA-256).
    const std::string code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk";
    const std::string at = "jHkWEdUXMU1BwAsC4vtUsZwnNQ";
    std::string h;
    REQUIRE_FALSE(jose::half_hash(jose::alg::RS256, code, h));
    CHECK(h == "LDktKdoQak3Pk0cnXxCltA");
    // Independent values (python hashlib): SHA-256 / SHA-384 / SHA-512 left halves.
    REQUIRE_FALSE(jose::half_hash(jose::alg::RS256, at, h));
    CHECK(h == "XOvjgX9YsppzhCKvi01npA");
    REQUIRE_FALSE(jose::half_hash(jose::alg::ES384, at, h));
    CHECK(h.size() == 32);
    REQUIRE_FALSE(jose::half_hash(jose::alg::EdDSA, at, h));
    std::string h512;
    REQUIRE_FALSE(jose::half_hash(jose::alg::HS512, at, h512));
    CHECK(h == h512); // Ed25519 uses SHA-512
    CHECK(h.size() == 43);
    CHECK(jose::half_hash(jose::alg::none, at, h) == errc::alg_unsupported);

    auto o = options();
    o.kind = opts::profile::id_token;
    o.client_id = "api";
    o.access_token = at;
    CHECK_FALSE(check(sign(payload("\"at_hash\":\"XOvjgX9YsppzhCKvi01npA\"")), o));
    CHECK(check(sign(payload("\"at_hash\":\"XOvjgX9YsppzhCKvi01npB\"")), o) ==
          errc::at_hash_mismatch);
    CHECK(check(sign(payload()), o) == errc::at_hash_mismatch);
    o.code = code;
    CHECK(check(sign(payload("\"at_hash\":\"XOvjgX9YsppzhCKvi01npA\"")), o) ==
          errc::c_hash_mismatch);
    CHECK_FALSE(
        check(sign(payload(
                  "\"at_hash\":\"XOvjgX9YsppzhCKvi01npA\",\"c_hash\":\"LDktKdoQak3Pk0cnXxCltA\"")),
              o));
    CHECK(
        check(sign(payload(
                  "\"at_hash\":\"XOvjgX9YsppzhCKvi01npA\",\"c_hash\":\"LDktKdoQak3Pk0cnXxCltB\"")),
              o) == errc::c_hash_mismatch);
    // Not given: not checked.
    CHECK_FALSE(check(sign(payload("\"at_hash\":\"garbage\",\"c_hash\":\"x\""))));
    // EdDSA uses SHA-512 for the hash.
    std::string ed_hash;
    REQUIRE_FALSE(jose::half_hash(jose::alg::EdDSA, at, ed_hash));
    auto oe = options();
    oe.algorithms = {jose::alg::EdDSA};
    oe.access_token = at;
    CHECK_FALSE(check(sign(payload("\"at_hash\":\"" + ed_hash + "\""), jose::alg::EdDSA), oe));
    CHECK(check(sign(payload("\"at_hash\":\"XOvjgX9YsppzhCKvi01npA\""), jose::alg::EdDSA), oe) ==
          errc::at_hash_mismatch);
}

TEST_CASE("jwt: typ header check (RFC 9068)", "[jwt]") {
    auto o = options();
    o.typ = "at+jwt";
    CHECK_FALSE(check(sign(payload(), jose::alg::RS256, nullptr, "at+jwt"), o));
    CHECK_FALSE(check(sign(payload(), jose::alg::RS256, nullptr, "AT+JWT"), o));
    CHECK_FALSE(check(sign(payload(), jose::alg::RS256, nullptr, "application/at+jwt"), o));
    CHECK_FALSE(check(sign(payload(), jose::alg::RS256, nullptr, "Application/At+Jwt"), o));
    CHECK(check(sign(payload(), jose::alg::RS256, nullptr, "JWT"), o) == errc::typ_mismatch);
    CHECK(check(sign(payload(), jose::alg::RS256, nullptr, "application/jwt"), o) ==
          errc::typ_mismatch);
    CHECK(check(sign(payload()), o) == errc::typ_mismatch);
    CHECK(check(sign(payload(), jose::alg::RS256, nullptr, "at+jwt "), o) == errc::typ_mismatch);
    // The access_token profile expects at+jwt by default.
    auto p = options();
    p.kind = opts::profile::access_token;
    CHECK_FALSE(check(sign(payload(), jose::alg::RS256, nullptr, "at+jwt"), p));
    CHECK(check(sign(payload(), jose::alg::RS256, nullptr, "JWT"), p) == errc::typ_mismatch);
    CHECK(check(sign(payload()), p) == errc::typ_mismatch);
    // Not asked: any typ passes.
    CHECK_FALSE(check(sign(payload(), jose::alg::RS256, nullptr, "JWT")));
    CHECK(jose::check_typ("application/AT+JWT", o) == std::error_code());
}

TEST_CASE("jwt: check order and messages never echo the token", "[jwt]") {
    // Expired and wrong issuer: the issuer is reported first.
    const std::string t = sign(payload("\"iss\":\"x\",\"exp\":1", {"iss", "exp"}));
    auto ec = check(t);
    CHECK(ec == errc::issuer_mismatch);
    CHECK(ec.message().find(t.substr(0, 10)) == std::string::npos);
    CHECK(oidc::error_name(ec) == "issuer_mismatch");
    // A bad signature is reported before any claim.
    std::string bad = t;
    bad.back() = bad.back() == 'A' ? 'B' : 'A';
    CHECK(check(bad) != errc::issuer_mismatch);
}

TEST_CASE("jwt: claims::parse alone", "[jwt]") {
    jose::claims c;
    REQUIRE_FALSE(jose::claims::parse(R"({"a":"x\"y","b":[1,2.5,"s",null,true,{}],"c":{}})", c));
    CHECK(c.get_string("a") == "x\"y");
    CHECK(c.raw("a") == R"("x\"y")");
    CHECK(c.raw("b") == R"([1,2.5,"s",null,true,{}])");
    CHECK(c.raw("c") == "{}");
    CHECK(c.type("b") == jose::claim_type::array);
    CHECK_FALSE(c.get_string_array("b").has_value());
    CHECK(c.to_json() == R"({"a":"x\"y","b":[1,2.5,"s",null,true,{}],"c":{}})");
    REQUIRE_FALSE(jose::claims::parse(R"({"g":["a","b"],"big":18446744073709551615})", c));
    CHECK(c.get_string_array("g") == std::vector<std::string>{"a", "b"});
    CHECK(c.type("big") == jose::claim_type::number);
    CHECK_FALSE(c.get_int("big").has_value());
    REQUIRE_FALSE(jose::claims::parse("{}", c));
    CHECK(c.size() == 0);
    CHECK(c.to_json() == "{}");
    CHECK(jose::claims::parse("", c) == errc::json_invalid);
    CHECK(jose::claims::parse("{\"a\":1,\"a\":1}", c) == errc::json_duplicate_member);
    CHECK(jose::claims::parse("{\"\\u0061\":1,\"a\":1}", c) == errc::json_duplicate_member);
    CHECK(jose::claims::parse("{\"exp\":\"1\"}", c) == errc::claim_invalid);
    CHECK(c.size() == 0);
    // A syntax error after a claim of the wrong type is a JSON error.
    CHECK(jose::claims::parse("{\"iss\":1,\"aud\"x:1}", c) == errc::json_invalid);
}

TEST_CASE("jwt: the claims reader is strict JSON (RFC 8259)", "[jwt]") {
    jose::claims c;
    auto ok = [&](std::string_view s) {
        return !jose::claims::parse(s, c);
    };
    // Whitespace, escapes, surrogate pairs, names with escapes.
    REQUIRE(ok(" {\n\t\"s\\u0075b\" : \"a\\u00e9\\ud83d\\ude00\\n\\/\" ,\"o\": { \"x\" : [ 1 , 2 ] "
               "} }\r\n"));
    CHECK(c.sub() == "a\xc3\xa9\xf0\x9f\x98\x80\n/");
    CHECK(c.raw("sub") == R"("a\u00e9\ud83d\ude00\n\/")");
    CHECK(c.raw("o") == R"({ "x" : [ 1 , 2 ] })");
    CHECK(c.name_at(0) == "sub");
    CHECK(c.to_json() == R"({"s\u0075b":"a\u00e9\ud83d\ude00\n\/","o":{ "x" : [ 1 , 2 ] }})");
    CHECK(c.get_string_array("o") == std::nullopt);
    // Unpaired surrogates, bad escapes, control characters, bad UTF-8.
    CHECK_FALSE(ok(R"({"a":"\ud800"})"));
    CHECK_FALSE(ok(R"({"a":"\udc00"})"));
    CHECK_FALSE(ok(R"({"a":"\ud800\u0041"})"));
    CHECK_FALSE(ok(R"({"a":"\u00g0"})"));
    CHECK_FALSE(ok(R"({"a":"\x"})"));
    CHECK_FALSE(ok("{\"a\":\"\t\"}"));
    CHECK_FALSE(ok("{\"a\":\"\xc0\xaf\"}"));
    CHECK_FALSE(ok("{\"a\":\"\xed\xa0\x80\"}"));
    CHECK_FALSE(ok("{\"a\":\"\xf4\x90\x80\x80\"}"));
    CHECK(ok("{\"a\":\"\xf4\x8f\xbf\xbf\x7f\"}"));
    CHECK_FALSE(ok("{\"a\":\"unterminated}"));
    // Numbers.
    CHECK(ok(R"({"a":-0,"b":1E+2,"c":1e-400,"d":18446744073709551615,"e":-9223372036854775808})"));
    CHECK(c.get_number("c") == 0.0);
    CHECK(c.type("d") == jose::claim_type::number);
    CHECK(c.get_int("e") == INT64_MIN);
    for (const char* bad : {R"({"a":01})", R"({"a":1.})", R"({"a":.1})", R"({"a":+1})",
                            R"({"a":1e})", R"({"a":1e309})", R"({"a":18446744073709551616})",
                            R"({"a":-9223372036854775809})", R"({"a":-})", R"({"a":NaN})"}) {
        INFO(bad);
        CHECK(jose::claims::parse(bad, c) == errc::json_invalid);
    }
    // Structure.
    for (const char* bad : {"", " ", "{", "}", "{}}", "{} x", "[]", "{,}", R"({"a":1,})",
                            R"({"a" 1})", R"({"a":[1,]})", R"({"a":{"b":1,}})", R"({"a":nul})",
                            R"({"a":tru})", R"({a:1})", "\xef\xbb\xbf{}"}) {
        INFO(bad);
        CHECK(jose::claims::parse(bad, c) == errc::json_invalid);
    }
    CHECK(jose::claims::parse(std::string_view("{}\0", 3), c) == errc::json_invalid);
    // Duplicates, also when spelled with escapes, at any depth.
    CHECK(jose::claims::parse(R"({"a":1,"\u0061":2})", c) == errc::json_duplicate_member);
    CHECK(jose::claims::parse(R"({"o":{"k":1,"\u006b":2}})", c) == errc::json_duplicate_member);
    CHECK(jose::claims::parse(R"({"o":[{"k":1},{"k":1,"j":{"x":1,"x":2}}]})", c) ==
          errc::json_duplicate_member);
    CHECK(ok(R"({"o":{"k":{"k":{"k":1}},"j":{"k":1}}})"));
    // Many members (beyond the duplicate table) and deep nesting limits.
    std::string many = "{";
    for (int i = 0; i < 300; ++i)
        many += (i ? ",\"m" : "\"m") + std::to_string(i) + "\":" + std::to_string(i);
    CHECK(ok(many + "}"));
    CHECK(c.size() == 300);
    CHECK(c.get_int("m299") == 299);
    CHECK(jose::claims::parse(many + ",\"m7\":1}", c) == errc::json_duplicate_member);
    CHECK(jose::claims::parse(many + ",\"m250\":1}", c) == errc::json_duplicate_member);
    CHECK(ok("{\"d\":" + std::string(31, '[') + std::string(31, ']') + "}"));
    CHECK(jose::claims::parse("{\"d\":" + std::string(32, '[') + std::string(32, ']') + "}", c) ==
          errc::json_invalid);
}

TEST_CASE("jwt: headers beyond alg/kid/typ/cty take the general path with the same rules",
          "[jwt]") {
    auto signx = [](std::string_view extra) {
        std::string out;
        REQUIRE_FALSE(
            jose::sign_compact(jose::alg::RS256, keys().rsa, payload(), out, "JWT", extra));
        return out;
    };
    CHECK_FALSE(check(signx("\"jku\":\"https://attacker.example/jwks\"")));
    CHECK_FALSE(check(signx("\"x5t\":\"abc\",\"cty\":\"JWT\"")));
    CHECK(check(signx("\"crit\":[\"exp\"],\"exp\":1")) == errc::crit_unsupported);
    CHECK(check(signx("\"b64\":false,\"crit\":[\"b64\"]")) != std::error_code());
    CHECK(check(signx("\"kid\":5")) != std::error_code());
    CHECK(check(signx("\"typ\":\"JWT\"")) == errc::json_duplicate_member);
    auto o = options();
    o.typ = "at+jwt";
    CHECK(check(signx("\"jku\":\"x\""), o) == errc::typ_mismatch);
    // Header parsing errors are those of jws::parse.
    const std::string p = jose::base64url_encode(payload());
    CHECK(check(jose::base64url_encode(R"({"alg":"RS257"})") + "." + p + ".c2ln") ==
          errc::alg_unsupported);
    CHECK(check(jose::base64url_encode(R"({"alg":"none"})") + "." + p + ".") == errc::alg_none);
    CHECK(check(jose::base64url_encode(R"({"typ":"JWT"})") + "." + p + ".c2ln") ==
          errc::jws_malformed);
    CHECK(check(jose::base64url_encode(R"({"alg":"RS256"})") + "." + p + ".c2ln=") ==
          errc::jws_malformed);
    CHECK(check("." + p + ".c2ln") == errc::jws_malformed);
    CHECK(check("a.b.c.d") == errc::jws_malformed);
}

TEST_CASE("jwt: the claims reader's plain-text path (no escape, control or non-ASCII byte)",
          "[jwt]") {
    jose::claims c;
    auto parse = [&](const std::string& s) {
        return jose::claims::parse(s, c);
    };
    // Strings across the 64-byte words of the quote bitmap, empty strings, long strings.
    for (std::size_t pad = 0; pad < 140; ++pad) {
        const std::string v(pad, 'x');
        const std::string doc = "{\"" + std::string(pad % 7, 'k') + "a\":\"" + v +
                                "\",\"b\":[\"\",\"" + v + "\",{\"c\":\"" + v + "\"}],\"d\":\"\"}";
        INFO(pad);
        REQUIRE_FALSE(parse(doc));
        CHECK(c.get_string(std::string(pad % 7, 'k') + "a") == v);
        CHECK(c.get_string("d") == "");
        CHECK(c.raw("b") == "[\"\",\"" + v + "\",{\"c\":\"" + v + "\"}]");
        // The same text cut anywhere is refused.
        for (std::size_t cut : {doc.size() - 1, doc.size() / 2, std::size_t{3}})
            CHECK(parse(doc.substr(0, cut)) == errc::json_invalid);
    }
    // Unterminated strings at the very end, a lone quote, quotes only.
    for (const char* bad : {"{\"a", "{\"a\":\"b", "{\"a\":\"", "\"", "{\"", "{\"a\":[\"x",
                            "{\"a\":{\"b\":\"c}}", "{\"a\":\"b\"\"}", "{\"\":\"\"\"}"})
        CHECK(parse(bad) == errc::json_invalid);
    CHECK_FALSE(parse("{\"\":\"\"}"));
    // Duplicates and types are still checked on this path.
    CHECK(parse("{\"a\":\"x\",\"b\":{\"c\":\"1\",\"c\":\"2\"}}") == errc::json_duplicate_member);
    CHECK(parse("{\"a\":\"x\",\"a\":\"y\"}") == errc::json_duplicate_member);
    CHECK(parse("{\"iss\":[\"x\"]}") == errc::claim_invalid);
    CHECK(parse("{\"aud\":[\"x\",1]}") == errc::claim_invalid);
    REQUIRE_FALSE(parse("{\"aud\":[\"x\",\"y\"],\"amr\":[\"pwd\"]}"));
    CHECK(c.aud() == std::vector<std::string>{"x", "y"});
    CHECK(c.amr() == std::vector<std::string>{"pwd"});
    // Strings at the depth bound (the top-level object is depth 1, at most 32): 30 arrays
    // hold a string, 31 do not; an object in 29 arrays holds one, in 30 it does not.
    auto nest = [](std::size_t n, const std::string& inner) {
        return "{\"d\":" + std::string(n, '[') + inner + std::string(n, ']') + "}";
    };
    CHECK_FALSE(parse(nest(30, "\"s\"")));
    CHECK(parse(nest(31, "\"s\"")) == errc::json_invalid);
    CHECK_FALSE(parse(nest(29, "{\"k\":\"s\"}")));
    CHECK(parse(nest(30, "{\"k\":\"s\"}")) == errc::json_invalid);
    CHECK_FALSE(parse(nest(30, "1")));
    CHECK(parse(nest(31, "1")) == errc::json_invalid);
    // Integers: the exact fast path up to 18 digits, from_chars beyond.
    REQUIRE_FALSE(parse("{\"a\":999999999999999999,\"b\":-999999999999999999,\"c\":"
                        "9223372036854775807,\"d\":-0,\"e\":0,\"f\":1234567890123456789}"));
    CHECK(c.get_int("a") == 999999999999999999);
    CHECK(c.get_int("b") == -999999999999999999);
    CHECK(c.get_int("c") == INT64_MAX);
    CHECK(c.get_int("d") == 0);
    CHECK(c.type("d") == jose::claim_type::integer);
    CHECK(c.get_int("e") == 0);
    CHECK(c.get_int("f") == 1234567890123456789);
    CHECK(parse("{\"a\":00}") == errc::json_invalid);
    CHECK(parse("{\"a\":-01}") == errc::json_invalid);
    // The same documents with an escape or a non-ASCII byte take the checked path: same result.
    REQUIRE_FALSE(parse("{\"a\":\"x\\u0079\",\"b\":\"caf\xc3\xa9\"}"));
    CHECK(c.get_string("a") == "xy");
    CHECK(c.get_string("b") == "caf\xc3\xa9");
}
