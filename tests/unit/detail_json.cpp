#include <oidc/detail/json.hpp>

#include "catch.hpp"

namespace json = oidc::detail::json;

namespace {
std::error_code parse(std::string_view s) {
    json::value v;
    return json::parse_object(s, v);
}
} // namespace

TEST_CASE("json: a well-formed object becomes a tree", "[json]") {
    json::value v;
    REQUIRE_FALSE(json::parse_object(
        R"({"a":1,"b":"x\u00e9","c":[true,false,null],"d":{"e":-2.5},"f":9007199254740993})", v));
    REQUIRE(v.is_object());
    CHECK(v.find("a")->as_integer() == 1);
    CHECK(*v.find_string("b") == "x\xc3\xa9");
    CHECK(v.find("c")->as_array().size() == 3);
    CHECK(v.find("d")->find("e")->as_double() == -2.5);
    CHECK(v.find("f")->as_integer() == 9007199254740993LL);
    CHECK(v.find("missing") == nullptr);
    CHECK(v.find_string("a") == nullptr);
}

TEST_CASE("json: strictness", "[json]") {
    CHECK(parse(R"({"a":1,"a":2})") == oidc::errc::json_duplicate_member);
    CHECK(parse(R"({"o":{"x":1,"x":1}})") == oidc::errc::json_duplicate_member);
    CHECK(parse(R"({"a":1} x)") == oidc::errc::json_invalid);
    CHECK(parse(R"({"a":1}{})") == oidc::errc::json_invalid);
    CHECK(parse("[1,2]") == oidc::errc::json_invalid);
    CHECK(parse("\"s\"") == oidc::errc::json_invalid);
    CHECK(parse("") == oidc::errc::json_invalid);
    CHECK(parse("{\"a\":\"\xff\"}") == oidc::errc::json_invalid);
    CHECK(parse("{\"a\":\"\xc3\"}") == oidc::errc::json_invalid);
    // simdjson reports every bad number alike: overflow is rejected as invalid JSON.
    CHECK(parse(R"({"a":1e999})") == oidc::errc::json_invalid);
    CHECK(parse(R"({"a":99999999999999999999999})") == oidc::errc::json_invalid);
    CHECK(parse(R"({"a":-99999999999999999999})") == oidc::errc::json_invalid);
    CHECK(parse(R"({"a":01})") == oidc::errc::json_invalid);
    CHECK(parse(R"({"a":tru})") == oidc::errc::json_invalid);
    CHECK(parse(R"({"a":1,})") == oidc::errc::json_invalid);
    std::string deep = "{\"a\":";
    for (int i = 0; i < 100; ++i)
        deep += "[";
    for (int i = 0; i < 100; ++i)
        deep += "]";
    deep += "}";
    CHECK(parse(deep) == oidc::errc::json_invalid);
    json::parse_options small;
    small.max_bytes = 4;
    json::value v;
    CHECK(json::parse_object("{\"a\":1}", v, small) == oidc::errc::input_too_large);
    CHECK_FALSE(parse(" \n{ } \n"));
}

TEST_CASE("json: dump round-trips and escapes", "[json]") {
    json::value v;
    const char* text = R"({"s":"a\"b\\c\n\u0001","n":-3,"d":0.5,"t":true,"z":null,"a":[1,{}]})";
    REQUIRE_FALSE(json::parse_object(text, v));
    std::string out = json::dump(v);
    CHECK(out == R"({"s":"a\"b\\c\n\u0001","n":-3,"d":0.5,"t":true,"z":null,"a":[1,{}]})");
    json::value back;
    REQUIRE_FALSE(json::parse_object(out, back));
    CHECK(back == v);
    CHECK_FALSE(json::parse_object(json::dump(v, 2), back));
    CHECK(back == v);
}
