#include <oidc/jose/base64url.hpp>

#include "catch.hpp"

#include <string>

using oidc::jose::base64url_decode;
using oidc::jose::base64url_encode;

namespace {
std::error_code decode(std::string_view in) {
    std::string out;
    return base64url_decode(in, out);
}
std::string decoded(std::string_view in) {
    std::string out;
    REQUIRE_FALSE(base64url_decode(in, out));
    return out;
}
} // namespace

TEST_CASE("base64url: RFC 4648 test vectors round trip", "[jose][base64url]") {
    const std::pair<std::string_view, std::string_view> v[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (auto [plain, enc] : v) {
        CHECK(base64url_encode(plain) == enc);
        CHECK(decoded(enc) == plain);
    }
    // The two characters that differ from base64.
    CHECK(base64url_encode(std::string("\xfb\xff\xbf", 3)) == "-_-_");
    CHECK(decoded("-_-_") == std::string("\xfb\xff\xbf", 3));
    std::string appended = "x";
    base64url_encode("foo", appended);
    CHECK(appended == "xZm9v");
}

TEST_CASE("base64url: every byte value and length round trips", "[jose][base64url]") {
    std::string all;
    for (int i = 0; i < 256; ++i)
        all.push_back(static_cast<char>(i));
    for (std::size_t len = 0; len <= all.size(); ++len) {
        std::string enc = base64url_encode(std::string_view(all).substr(0, len));
        CHECK(enc.size() == oidc::jose::base64url_encoded_size(len));
        CHECK(decoded(enc) == all.substr(0, len));
    }
}

TEST_CASE("base64url: strict decoding", "[jose][base64url]") {
    using oidc::errc;
    CHECK(decode("Zg==") == errc::base64url_invalid);     // padding
    CHECK(decode("Zm8=") == errc::base64url_invalid);     // padding
    CHECK(decode("+/+/") == errc::base64url_invalid);     // base64 alphabet
    CHECK(decode("Zm9v Yg") == errc::base64url_invalid);  // whitespace
    CHECK(decode("Zm9v\nYg") == errc::base64url_invalid); // newline
    CHECK(decode("Z") == errc::base64url_invalid);        // length 1 mod 4
    CHECK(decode("Zm9vY") == errc::base64url_invalid);    // length 1 mod 4
    CHECK(decode("Zh") == errc::base64url_invalid);       // non-canonical trailing bits
    CHECK(decode("Zm9") == errc::base64url_invalid);      // non-canonical trailing bits
    CHECK(decode("Zm8") == std::error_code());
    CHECK(decode(std::string_view("Zm\0v", 4)) == errc::base64url_invalid);
    CHECK(decode("Zm9v\xff\xff") == errc::base64url_invalid);
    CHECK(decode("Zm.v") == errc::base64url_invalid);
    // Every byte outside the alphabet is refused in every position.
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        const bool in_alphabet = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                                 (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        if (in_alphabet)
            continue;
        for (int pos = 0; pos < 4; ++pos) {
            std::string s = "AAAA";
            s[static_cast<std::size_t>(pos)] = ch;
            CHECK(decode(s) == errc::base64url_invalid);
        }
    }
}

namespace {
// Decodes with one of the implementations behind base64url_decode.
bool decode_with(int impl, std::string_view in, std::string& out) {
    using namespace oidc::jose;
    if (in.size() % 4 == 1)
        return false;
    out.assign(base64url_decoded_size(in.size()) + 1, '\0');
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    bool ok = false;
#if OIDC_B64URL_AVX2
    if (impl == 1) {
        if (!detail::b64url_have_avx2())
            return decode_with(0, in, out);
        ok = detail::b64url_decode_avx2(p, in.size(), out.data());
    } else
#endif
        ok = impl == 0 ? detail::b64url_decode_scalar(p, in.size(), out.data())
                       : detail::b64url_decode_fast(p, in.size(), out.data());
    out.resize(out.size() - 1);
    return ok;
}
} // namespace

TEST_CASE("base64url: the scalar and the AVX2 decoders agree", "[jose][base64url]") {
    const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n.\x80";
    std::uint32_t seed = 12345;
    auto next = [&] {
        seed = seed * 1103515245u + 12345u;
        return seed >> 8;
    };
    std::string a, b;
    int invalid = 0, mismatches = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string in;
        const std::size_t len = next() % 140;
        const bool clean = next() % 4 != 0; // mostly valid characters
        for (std::size_t j = 0; j < len; ++j)
            in.push_back(alphabet[next() % (clean ? 64 : alphabet.size())]);
        if (!clean && next() % 2) // one bad byte among valid ones
            for (auto& ch : in)
                if (std::string_view(alphabet).substr(0, 64).find(ch) == std::string_view::npos)
                    ch = 'A';
        const bool e0 = decode_with(0, in, a);
        const bool e1 = decode_with(1, in, b);
        std::string c;
        const std::error_code e2 = base64url_decode(in, c);
        if (e0 != e1 || e0 == bool(e2) || (e0 && (a != b || a != c))) {
            FAIL_CHECK("decoders disagree on '" << in << "'");
            ++mismatches;
        }
        invalid += e0 ? 0 : 1;
    }
    CHECK(mismatches == 0);
    CHECK(invalid > 1000);
    std::string big(3000, '\0');
    for (auto& ch : big)
        ch = static_cast<char>(next());
    REQUIRE_FALSE(base64url_decode(base64url_encode(big), b));
    CHECK(b == big);
}

TEST_CASE("base64url: every byte outside the alphabet is refused at every position of a long "
          "input",
          "[jose][base64url]") {
    using oidc::errc;
    std::string valid;
    for (int i = 0; i < 96; ++i)
        valid.push_back(oidc::jose::detail::b64url_alphabet[(i * 7) % 64]);
    CHECK_FALSE(decode(valid));
    int refused = 0, tried = 0;
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        if (std::string_view(oidc::jose::detail::b64url_alphabet, 64).find(ch) !=
            std::string_view::npos)
            continue;
        for (std::size_t pos = 0; pos < valid.size(); ++pos) {
            std::string s = valid;
            s[pos] = ch;
            ++tried;
            refused += decode(s) == errc::base64url_invalid ? 1 : 0;
        }
    }
    CHECK(refused == tried);
    CHECK(tried == 192 * 96);
}

TEST_CASE("base64url: decode_append appends to the buffer", "[jose][base64url]") {
    std::string out = "ab";
    REQUIRE_FALSE(oidc::jose::base64url_decode_append("Zm9v", out));
    CHECK(out == "abfoo");
    const std::string long_text(100, 'x');
    REQUIRE_FALSE(oidc::jose::base64url_decode_append(base64url_encode(long_text), out));
    CHECK(out == "abfoo" + long_text);
    CHECK(oidc::jose::base64url_decode_append("Zm9", out) == oidc::errc::base64url_invalid);
    CHECK(oidc::jose::base64url_decode_append("Z", out) == oidc::errc::base64url_invalid);
    CHECK(oidc::jose::base64url_decoded_size(4) == 3);
    CHECK(oidc::jose::base64url_decoded_size(7) == 5);
}
