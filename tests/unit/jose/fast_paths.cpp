// Tests of the fast paths of include/oidc/jose/claims.hpp, jwt.hpp and jws.hpp against their
// references: plain_scan (scalar, SSE2, AVX2), claims::parse against claims::parse_reference
// (the byte-at-a-time reader), validate()'s simple-header path against the general jws::parse
// path, the HMAC key schedule against EVP_Q_mac, and no allocation per validate().
#include <oidc/jose/jwt.hpp>

#include "alloc_counter.hpp"
#include "catch.hpp"

#include <openssl/evp.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace jose = oidc::jose;
namespace jd = oidc::jose::detail;
using oidc::errc;

namespace {

// What plain_scan must find, computed the obvious way.
jd::plain_text expected_scan(std::string_view s, std::vector<std::uint64_t>& bits) {
    bits.assign((s.size() + 63) / 64 + 1, 0);
    bool special = false, inside = false, space_outside = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        special |= c < 0x20 || c >= 0x80 || c == '\\';
        if (c == '"') {
            bits[i / 64] |= std::uint64_t{1} << (i % 64);
            inside = !inside;
        } else if (c == ' ' && !inside) {
            space_outside = true;
        }
    }
    return special ? jd::text_checked : space_outside ? jd::text_plain : jd::text_compact;
}

void check_scan(const std::string& s) {
    std::vector<std::uint64_t> want, got;
    const jd::plain_text r = expected_scan(s, want);
    INFO("size " << s.size());
    auto same = [&](jd::plain_text g) {
        CHECK(g == r);
        if (r != jd::text_checked && g == r)
            CHECK(got == want);
    };
    same(jd::plain_scan_scalar(s, got));
#if defined(__SSE2__)
    same(jd::plain_scan_sse2(s, got));
#endif
#if OIDC_B64URL_AVX2
    if (jd::b64url_have_avx2())
        same(jd::plain_scan_avx2(s, got));
#endif
    same(jd::plain_scan(s, got));
}

// A random JSON value of the claims reader's language (strict JSON), with escapes, UTF-8,
// whitespace, nesting, large numbers, and member names repeated under different spellings.
struct json_gen {
    std::mt19937 rng;
    bool spaces = false, escapes = false;

    std::size_t pick(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    }
    std::string ws() {
        if (!spaces || pick(3))
            return "";
        static const char* w[] = {" ", "  ", "\n", "\t", "\r\n "};
        return w[pick(5)];
    }
    std::string str(std::size_t max_len) {
        static const char* pieces[] = {"a", "b", "Z", "0", " ", "-", "_",
                                       "/", ":", "{", "}", "[", ",", "x"};
        static const char* escaped[] = {"\\\"",    "\\\\",     "\\/",          "\\n",
                                        "\\t",     "\\u0061",  "\\u00e9",      "\\ud83d\\ude00",
                                        "\\u0000", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
        std::string s = "\"";
        const std::size_t n = pick(max_len + 1);
        for (std::size_t i = 0; i < n; ++i)
            s += escapes && pick(5) == 0 ? escaped[pick(12)] : pieces[pick(14)];
        return s + "\"";
    }
    std::string name() {
        // A small set of names, so that duplicates occur; "a" is also written "\u0061".
        static const char* plain[] = {"\"a\"",   "\"b\"",   "\"iss\"", "\"aud\"",
                                      "\"exp\"", "\"sub\"", "\"k\""};
        static const char* spelled[] = {"\"\\u0061\"", "\"\\u0062\"", "\"i\\u0073s\"",
                                        "\"\\u006b\""};
        if (escapes && pick(8) == 0)
            return spelled[pick(4)];
        if (pick(3) == 0)
            return str(6);
        return plain[pick(7)];
    }
    std::string number() {
        static const char* nums[] = {"0",
                                     "-0",
                                     "1",
                                     "1700000000",
                                     "-12",
                                     "2.5",
                                     "1e3",
                                     "1E+2",
                                     "-1.5e-3",
                                     "999999999999999999",
                                     "9223372036854775807",
                                     "-9223372036854775808",
                                     "18446744073709551615",
                                     "18446744073709551616",
                                     "1e400",
                                     "1e-400",
                                     "123456789012345678901234567890"};
        return nums[pick(17)];
    }
    std::string value(int depth) {
        switch (depth > 6 ? pick(4) : pick(7)) {
        case 0:
            return str(12);
        case 1:
            return number();
        case 2: {
            static const char* lit[] = {"true", "false", "null"};
            return lit[pick(3)];
        }
        case 3:
            return str(3);
        case 4:
        case 5:
            return object(depth + 1);
        default: {
            std::string s = "[" + ws();
            const std::size_t n = pick(4);
            for (std::size_t i = 0; i < n; ++i)
                s += (i ? "," + ws() : "") + value(depth + 1) + ws();
            return s + "]";
        }
        }
    }
    std::string object(int depth) {
        std::string s = "{" + ws();
        const std::size_t n = pick(depth == 0 ? 12 : 4);
        for (std::size_t i = 0; i < n; ++i)
            s += (i ? "," + ws() : "") + name() + ws() + ":" + ws() + value(depth) + ws();
        return s + "}";
    }
};

// parse() and parse_reference() give the same result and the same claims.
void check_same(std::string_view doc) {
    jose::claims a, b;
    const auto ea = jose::claims::parse(doc, a);
    const auto eb = jose::claims::parse_reference(doc, b);
    INFO(doc);
    REQUIRE(ea == eb);
    REQUIRE(a.size() == b.size());
    if (ea)
        return;
    CHECK(a.to_json() == b.to_json());
    for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string_view n = a.name_at(i);
        CHECK(n == b.name_at(i));
        CHECK(a.type(n) == b.type(n));
        CHECK(a.raw(n) == b.raw(n));
        CHECK(a.get_string(n) == b.get_string(n));
        CHECK(a.get_int(n) == b.get_int(n));
        CHECK(a.get_number(n) == b.get_number(n));
        CHECK(a.get_bool(n) == b.get_bool(n));
    }
    CHECK(a.iss() == b.iss());
    CHECK(a.sub() == b.sub());
    CHECK(a.aud() == b.aud());
    CHECK(a.exp() == b.exp());
}

std::string b64(std::string_view s) {
    return jose::base64url_encode(s);
}

std::string hmac(jose::alg a, std::string_view key, std::string_view input) {
    const char* md = a == jose::alg::HS256 ? "SHA256" : a == jose::alg::HS384 ? "SHA384" : "SHA512";
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, md, nullptr, key.data(), key.size(),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                      sizeof mac, &len) != nullptr);
    return std::string(reinterpret_cast<const char*>(mac), len);
}

constexpr std::int64_t T = 1'700'000'000;

jose::validation_options options() {
    jose::validation_options o;
    o.issuer = "https://issuer.example";
    o.audiences = {"api"};
    o.algorithms = {jose::alg::HS256};
    o.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(T));
    };
    return o;
}

const std::string payload = R"({"iss":"https://issuer.example","aud":"api","exp":)" +
                            std::to_string(T + 60) + R"(,"sub":"u"})";

// validate()'s general path, step by step (what validate does when the fast path declines).
std::error_code general_validate(std::string_view token, const jose::jwk_set& keys,
                                 const jose::validation_options& o, jose::claims& out) {
    jose::jws parsed;
    out.clear();
    if (auto ec = jose::jws::parse(token, parsed, o.limits))
        return ec;
    if (auto ec = jose::verify_signature(parsed, keys, std::span<const jose::alg>(o.algorithms)))
        return ec;
    if (auto ec = jose::check_typ(parsed.header().typ, o))
        return ec;
    if (auto ec = jose::claims::parse(parsed.payload(), out))
        return ec;
    auto ec = jose::check_claims(out, parsed.header().algorithm, o);
    if (ec)
        out.clear();
    return ec;
}

} // namespace

TEST_CASE("jose: plain_scan: scalar, SSE2 and AVX2 agree with the obvious scan", "[jose][claims]") {
    std::mt19937 rng(7);
    const char alphabet[] = {'"', '"', ' ',  ' ',    'a',    'b',    '{',
                             ':', ',', '\\', '\x1f', '\x7f', '\x80', '\xff'};
    for (std::size_t n = 0; n < 300; ++n) {
        for (int rep = 0; rep < 6; ++rep) {
            std::string s(n, 'a');
            // Mostly plain texts (quotes, spaces), sometimes one special byte.
            for (auto& c : s)
                c = alphabet[std::uniform_int_distribution<int>(0, rep < 4 ? 8 : 13)(rng)];
            check_scan(s);
        }
    }
    // Quotes and spaces at the block edges, and a string open across blocks.
    for (std::size_t n : {63, 64, 65, 127, 128, 129, 200}) {
        for (std::size_t at : {std::size_t{0}, std::size_t{1}, n / 2, n - 2, n - 1}) {
            std::string s(n, 'x');
            s[at] = '"';
            check_scan(s);
            s[at] = ' ';
            check_scan(s);
            s[0] = '"';
            check_scan(s);
        }
    }
}

TEST_CASE("jose: claims::parse and the byte-at-a-time reader agree", "[jose][claims]") {
    json_gen g{std::mt19937(11)};
    std::mt19937 mut(13);
    for (int i = 0; i < 3000; ++i) {
        g.spaces = i % 3 == 1;
        g.escapes = i % 4 == 3;
        std::string doc = g.object(0);
        if (i % 2)
            doc = g.ws() + doc + g.ws();
        check_same(doc);
        // Mutations: one byte replaced, removed or inserted; the text cut.
        const char bytes[] = {'"', ' ', '\\', ',', ':', '{',  '}',   '[',
                              ']', '1', 'e',  '-', 'a', '\0', '\x80'};
        for (int m = 0; m < 4 && !doc.empty(); ++m) {
            std::string d = doc;
            const std::size_t at = std::uniform_int_distribution<std::size_t>(0, d.size() - 1)(mut);
            const char b = bytes[std::uniform_int_distribution<int>(0, 14)(mut)];
            switch (m) {
            case 0:
                d[at] = b;
                break;
            case 1:
                d.erase(at, 1);
                break;
            case 2:
                d.insert(d.begin() + static_cast<std::ptrdiff_t>(at), b);
                break;
            default:
                d.resize(at);
            }
            check_same(d);
        }
    }
    // Hand-picked: duplicates under other spellings, deep nesting, big numbers, strings
    // across 64-byte words, with and without spaces.
    const std::string long_str(70, 'q');
    for (const std::string& doc :
         {std::string(R"({"a":1,"\u0061":2})"),
          std::string(R"({"a":"x","b":{"k":1,"\u006b":2}})"),
          std::string(R"({"a":"x" ,"a":"y"})"),
          std::string(R"({"iss":"i","aud":["x",1]})"),
          std::string(R"({"exp":18446744073709551616})"),
          std::string(R"({"exp":1e400})"),
          "{\"d\":" + std::string(31, '[') + std::string(31, ']') + "}",
          "{\"d\":" + std::string(32, '[') + std::string(32, ']') + "}",
          "{\"" + long_str + "\":\"" + long_str + "\",\"b\":[\"" + long_str + "\"]}",
          "{\"" + long_str + "\" : \"" + long_str + "\" , \"b\" : [ \"" + long_str + "\" ] }",
          std::string(R"({"a":"x"}  )"),
          std::string(R"(  {"a":"x"})"),
          std::string(R"({"a":"x""})"),
          std::string(R"({"a":"x" "b":1})"),
          std::string(R"({"a":1 2})"),
          std::string(R"({"a":tru})"),
          std::string("{\"a\":\"\xc3\xa9\"}"),
          std::string("{\"a\":\"\xc3\"}"),
          std::string(R"({"":""})"),
          std::string(R"({"aud":["x","y"],"amr":["a"]})"),
          std::string(R"({"aud":[],"amr":[]})"),
          std::string(R"({"aud":[1]})")})
        check_same(doc);
}

TEST_CASE("jose: validate's simple-header path and the general path agree", "[jose][jwt]") {
    const std::string secret(32, 'k');
    jose::jwk_set keys;
    keys.add(jose::jwk::from_secret(secret, "k1"));
    const std::string p = b64(payload);
    const std::vector<std::string> headers = {
        R"({"alg":"HS256"})",
        R"({"alg":"HS256","typ":"JWT"})",
        R"({"alg":"HS256","kid":"k1","typ":"JWT","cty":"x"})",
        " {\n\t\"alg\" : \"HS256\" ,\r\n \"kid\":\"k1\" } \n",
        R"({"alg":"HS256","kid":"k2"})",
        R"({"alg":"HS256","kid":""})",
        R"({"alg":"HS\u0032\u0035\u0036"})",
        R"({"alg":"HS256","kid":"k\u0031"})",
        R"({"alg":"HS256","alg":"HS256"})",
        R"({"alg":"HS256","kid":"k1","\u006bid":"k1"})",
        R"({"alg":"HS256","typ":"JWT","typ":"JWT"})",
        R"({"alg":"none"})",
        R"({"alg":"HS384"})",
        R"({"alg":"XX256"})",
        R"({"alg":5})",
        R"({"kid":"k1"})",
        R"({})",
        R"({"alg":"HS256",})",
        R"({"alg":"HS256"}x)",
        std::string("{\"alg\":\"HS256\"}\0", 16),
        R"({"alg":"HS256","kid":"k1","x":1})",
        R"({"alg":"HS256","crit":["exp"]})",
        R"({"alg":"HS256","typ":"at+jwt"})",
        "{\"alg\":\"HS256\",\"kid\":\"\xc3\xa9\"}",
        "{\"alg\":\"HS256\",\"kid\":\"a\tb\"}",
        R"({"alg":"HS256","kid":"a\"b"})",
        R"(["alg","HS256"])",
        R"({"alg":"HS256")",
        R"({"alg" "HS256"})",
    };
    for (const std::string& h : headers) {
        for (bool at : {false, true}) {
            auto o = options();
            if (at)
                o.typ = "at+jwt";
            const std::string input = b64(h) + "." + p;
            for (const std::string& token :
                 {input + "." + b64(hmac(jose::alg::HS256, secret, input)),
                  input + "." + b64(hmac(jose::alg::HS256, secret + "x", input)), input + ".",
                  input + "." + b64(hmac(jose::alg::HS256, secret, input)) + ".x",
                  input + ".a.b"}) {
                INFO(h << " -> " << token);
                jose::claims a, b;
                const auto ea = jose::validate(token, keys, o, a);
                const auto eb = general_validate(token, keys, o, b);
                CHECK(ea == eb);
                CHECK(a.to_json() == b.to_json());
            }
        }
    }
    // A dot in the payload: refused as a malformed token (not as bad base64url).
    jose::claims c;
    const std::string input = b64(R"({"alg":"HS256"})") + "." + p.substr(0, 8) + "." + p.substr(8);
    CHECK(jose::validate(input + "." + b64(hmac(jose::alg::HS256, secret, input)), keys, options(),
                         c) == errc::jws_malformed);
}

TEST_CASE("jose: validate's header cache never serves another header", "[jose][jwt]") {
    const std::string secret(32, 'k');
    jose::jwk_set keys;
    keys.add(jose::jwk::from_secret(secret, "k1"));
    keys.add(jose::jwk::from_secret(secret + "2", "k2"));
    const std::string p = b64(payload);
    // Neighbours of one header: the same length with one byte changed (typ, kid, alg), a
    // member added (crit, x), escapes, more headers than the cache has slots, and headers
    // longer than the cached bound.
    const std::string long_kid(600, 'z');
    const std::vector<std::string> headers = {
        R"({"alg":"HS256","kid":"k1","typ":"JWT"})",
        R"({"alg":"HS256","kid":"k1","typ":"JWS"})",
        R"({"alg":"HS256","kid":"k2","typ":"JWT"})",
        R"({"alg":"HS384","kid":"k1","typ":"JWT"})",
        R"({"alg":"HS256","kid":"k1","typ":"JWT" })",
        R"({"alg":"HS256","kid":"k1","typ":"JWT","crit":["exp"]})",
        R"({"alg":"HS256","kid":"k1","typ":"JWT","x":1})",
        R"({"alg":"HS256","kid":"k1","typ":"JWT"})",
        R"({"alg":"HS256","kid":"k1","typ":"JWT","typ":"JWT"})",
        R"({"alg":"none","kid":"k1","typ":"JWT"})",
        R"({"alg":"HS256","kid":"k1","typ":"at+jwt"})",
        R"({"alg":"HS256"})",
        "{\"alg\":\"HS256\",\"kid\":\"" + long_kid + "\"}",
        "{\"alg\":\"HS256\",\"kid\":\"" + long_kid + "y\"}",
    };
    auto token_for = [&](const std::string& h, const std::string& key) {
        const std::string input = b64(h) + "." + p;
        return input + "." + b64(hmac(jose::alg::HS256, key, input));
    };
    std::mt19937 rng(3);
    for (int round = 0; round < 200; ++round) {
        const std::string& h = headers[rng() % headers.size()];
        auto o = options();
        o.typ = round % 3 == 0 ? "" : "JWT";
        for (const std::string& key : {secret, secret + "2"}) {
            const std::string token = token_for(h, key);
            INFO(h << " key " << key.size());
            jose::claims a, b;
            const auto ea = jose::validate(token, keys, o, a);
            const auto eb = general_validate(token, keys, o, b);
            CHECK(ea == eb);
            CHECK(a.to_json() == b.to_json());
        }
    }
    // The first header is cached; a header of the same length one byte apart is read anew.
    auto o = options();
    o.typ = "JWT";
    jose::claims c;
    CHECK_FALSE(jose::validate(token_for(headers[0], secret), keys, o, c));
    CHECK(jose::validate(token_for(headers[1], secret), keys, o, c) == errc::typ_mismatch);
    CHECK(jose::validate(token_for(headers[2], secret), keys, o, c) == errc::signature_invalid);
    CHECK(jose::validate(token_for(headers[3], secret), keys, o, c) == errc::alg_not_allowed);
    CHECK_FALSE(jose::validate(token_for(headers[0], secret), keys, o, c));
}

TEST_CASE("jose: HMAC on the cached key schedule equals EVP HMAC for every key length",
          "[jose][jws]") {
    std::mt19937 rng(5);
    for (jose::alg a : {jose::alg::HS256, jose::alg::HS384, jose::alg::HS512}) {
        for (std::size_t len : {32, 48, 63, 64, 65, 127, 128, 129, 300}) {
            if (len < (a == jose::alg::HS256 ? 32u : a == jose::alg::HS384 ? 48u : 64u))
                continue;
            std::string secret(len, '\0');
            for (auto& ch : secret)
                ch = static_cast<char>(rng());
            const jose::jwk key = jose::jwk::from_secret(secret);
            for (std::size_t n : {0, 1, 55, 56, 63, 64, 111, 112, 127, 128, 1500}) {
                const std::string input(n, static_cast<char>('a' + n % 26));
                INFO(jose::to_string(a) << " key " << len << " input " << n);
                std::string mac = hmac(a, secret, input);
                std::string signed_mac;
                REQUIRE_FALSE(jose::sign(a, key, input, signed_mac));
                CHECK(signed_mac == mac);
                CHECK_FALSE(jose::verify(a, key, input, mac)); // twice: built, then cached
                CHECK_FALSE(jose::verify(a, key, input, mac));
                mac[n % mac.size()] ^= 1;
                CHECK(jose::verify(a, key, input, mac) == errc::signature_invalid);
                mac.pop_back();
                CHECK(jose::verify(a, key, input, mac) == errc::signature_invalid);
            }
        }
    }
}

#if OIDC_LOW_LEVEL_SHA
TEST_CASE("jose: HMAC-SHA-256 in steps equals EVP HMAC for every length and step count",
          "[jose][jws]") {
    std::mt19937 rng(9);
    for (std::size_t key_len : {32, 64, 65, 100}) {
        std::string secret(key_len, '\0');
        for (auto& ch : secret)
            ch = static_cast<char>(rng());
        auto pads = jd::hmac_pads::make(secret, oidc::detail::ossl::hash::sha256);
        REQUIRE(pads);
        for (std::size_t n : {0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 1500, 4096}) {
            std::string input(n, '\0');
            for (auto& ch : input)
                ch = static_cast<char>(rng());
            const std::string want = hmac(jose::alg::HS256, secret, input);
            for (std::size_t steps :
                 {std::size_t{0}, std::size_t{1}, std::size_t{2}, n / 64, n / 64 + 5}) {
                INFO("key " << key_len << " input " << n << " steps " << steps);
                jd::hmac_sha256_steps mac(*pads, input);
                std::size_t made = 0;
                for (std::size_t i = 0; i < steps; ++i)
                    made += mac.advance_block() ? 1 : 0;
                CHECK(made == std::min(steps, n / 64));
                std::string wrong = want;
                wrong[0] ^= 1;
                CHECK(mac.finish_equals(want));
                jd::hmac_sha256_steps again(*pads, input);
                again.advance_block();
                CHECK_FALSE(again.finish_equals(wrong));
                jd::hmac_sha256_steps shorter(*pads, input);
                CHECK_FALSE(shorter.finish_equals(want.substr(0, 31)));
            }
        }
    }
}
#endif

TEST_CASE("jose: claims::parse with a progress callback reads the same claims", "[jose][claims]") {
    struct counter {
        std::size_t calls = 0, last = 0, size = 0, stride = 1;
        bool ordered = true;
        static std::size_t step(void* self, std::size_t offset) noexcept {
            auto& c = *static_cast<counter*>(self);
            c.ordered = c.ordered && offset >= c.last && offset <= c.size;
            c.last = offset;
            ++c.calls;
            return c.calls > 40 ? SIZE_MAX : offset + c.stride;
        }
    };
    json_gen g{std::mt19937(21)};
    for (int i = 0; i < 1500; ++i) {
        g.spaces = i % 3 == 1;
        g.escapes = i % 4 == 3;
        const std::string doc = g.object(0);
        jose::claims a, b;
        counter cnt;
        cnt.size = doc.size();
        cnt.stride = static_cast<std::size_t>(i % 7) * 8 + 1;
        std::string text = doc;
        const auto ea = jose::detail::claims_paced_read::parse_swap(text, a, &counter::step, &cnt);
        const auto eb = jose::claims::parse_reference(doc, b);
        INFO(doc);
        REQUIRE(ea == eb);
        CHECK(a.to_json() == b.to_json());
        CHECK(cnt.calls >= 1); // the first call at offset 0
        CHECK(cnt.ordered);
    }
}

TEST_CASE("jose: typed claim names are recognised exactly", "[jose][claims]") {
    // A typed claim of the wrong type is claim_invalid; any other name is an untyped claim.
    const std::vector<std::string> names = {
        "iss",       "sub", "aud", "exp", "nbf",     "iat",    "jti",   "azp",      "nonce",
        "auth_time", "acr", "amr", "sid", "at_hash", "c_hash", "scope", "client_id"};
    auto recognised = [](const std::string& name_json, bool spaces) {
        // An object is the wrong type for every typed claim.
        const std::string doc = spaces ? "{ " + name_json + " : {} }" : "{" + name_json + ":{}}";
        jose::claims c;
        const auto ec = jose::claims::parse(doc, c);
        jose::claims r;
        const auto er = jose::claims::parse_reference(doc, r);
        CHECK(ec == er);
        REQUIRE((!ec || ec == errc::claim_invalid));
        return ec == errc::claim_invalid;
    };
    for (const std::string& n : names) {
        for (bool spaces : {false, true}) {
            INFO(n);
            CHECK(recognised("\"" + n + "\"", spaces));
            // The same name spelled with an escape is the same name.
            CHECK(recognised("\"\\u00" +
                                 std::string(n[0] == 'a'   ? "61"
                                             : n[0] == 'c' ? "63"
                                             : n[0] == 'e' ? "65"
                                             : n[0] == 'i' ? "69"
                                             : n[0] == 'j' ? "6a"
                                             : n[0] == 'n' ? "6e"
                                                           : "73") +
                                 n.substr(1) + "\"",
                             spaces) == (n[0] == 'a' || n[0] == 'c' || n[0] == 'e' || n[0] == 'i' ||
                                         n[0] == 'j' || n[0] == 'n' || n[0] == 's'));
            // One byte changed, one more, one less: another name.
            for (std::size_t i = 0; i < n.size(); ++i) {
                for (char x : {'A', '_', 'z', '"' == n[i] ? 'q' : 'Q'}) {
                    std::string m = n;
                    if (m[i] == x)
                        continue;
                    m[i] = x;
                    INFO(m);
                    CHECK_FALSE(recognised("\"" + m + "\"", spaces));
                }
            }
            CHECK_FALSE(recognised("\"" + n + "x\"", spaces));
            CHECK_FALSE(recognised("\"" + n.substr(0, n.size() - 1) + "\"", spaces));
            CHECK_FALSE(recognised("\"x" + n + "\"", spaces));
        }
    }
}

TEST_CASE("jose: validate's HS256 path reports what the sequential order reports", "[jose][jwt]") {
    // The MAC is computed along the claims read: every combination of a good or bad MAC, typ,
    // payload (valid, invalid JSON, a bad claim, not base64url) and claim rule gives the error
    // of the general path, and no claims unless all pass.
    const std::string secret(32, 'k');
    jose::jwk_set keys;
    keys.add(jose::jwk::from_secret(secret, "k1"));
    const std::string big(3000, 'x');
    const std::vector<std::string> payloads = {
        payload,
        R"({"iss":"https://issuer.example","aud":"api","exp":1,"sub":"u"})",
        R"({"iss":"https://issuer.example","aud":"api","exp":)" + std::to_string(T + 60) +
            R"(,"sub":"u","big":")" + big + R"(","n":{"a":[1,2,{"b":"c"}]}})",
        R"({"iss":"https://issuer.example","aud":"api","exp":)" + std::to_string(T + 60) +
            R"(,"sub":"u","sub":"v"})",
        R"({"iss":"https://issuer.example","aud":5})",
        R"({"iss":"https://issuer.example","aud":"api")",
        R"({"iss":"https://issuer.example","aud":"api"} x)",
        std::string("{\"iss\":\"\xff\"}"),
        "",
        "{}",
    };
    for (const std::string& pl : payloads) {
        for (const std::string& typ : {std::string("JWT"), std::string("at+jwt")}) {
            for (int mac_ok = 0; mac_ok < 2; ++mac_ok) {
                for (int b64_ok = 0; b64_ok < 2; ++b64_ok) {
                    const std::string h = R"({"alg":"HS256","typ":")" + typ + "\"}";
                    std::string p = b64(pl);
                    if (!b64_ok)
                        p = p.empty() ? "x" : p.substr(0, p.size() - 1) + "*";
                    const std::string input = b64(h) + "." + p;
                    const std::string token =
                        input + "." +
                        b64(hmac(jose::alg::HS256, mac_ok ? secret : secret + "x", input));
                    auto o = options();
                    o.typ = "JWT";
                    INFO(pl.substr(0, 80)
                         << " typ " << typ << " mac " << mac_ok << " b64 " << b64_ok);
                    jose::claims a, b;
                    const auto ea = jose::validate(token, keys, o, a);
                    const auto eb = general_validate(token, keys, o, b);
                    CHECK(ea == eb);
                    CHECK(a.to_json() == b.to_json());
                    CHECK(a.size() == b.size());
                }
            }
        }
    }
}

#if OIDC_TEST_COUNT_ALLOCATIONS
TEST_CASE("jose: validate allocates nothing once warmed up", "[jose][jwt]") {
    const std::string secret(32, 's');
    jose::jwk_set keys;
    keys.add(jose::jwk::from_secret(secret, "k1"));
    std::string token;
    REQUIRE_FALSE(jose::sign_compact(jose::alg::HS256, keys.keys()[0], payload, token, "JWT"));
    const auto o = options();
    jose::claims c;
    for (int i = 0; i < 3; ++i)
        REQUIRE_FALSE(jose::validate(token, keys, o, c));
    const long before = oidc_test::alloc_count.load();
    {
        oidc_test::counting_scope counting;
        for (int i = 0; i < 100; ++i)
            REQUIRE_FALSE(jose::validate(token, keys, o, c));
    }
    CHECK(oidc_test::alloc_count.load() - before == 0);
    CHECK(c.sub() == "u");
}
#endif
