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
