#include <oidc/http/parser.hpp>
#include <oidc/http/serializer.hpp>
#include <oidc/http/url.hpp>

#include "catch.hpp"

#include <string>
#include <vector>

using oidc::errc;
using oidc::http::request;
using oidc::http::serialize_request;
using oidc::http::verb;

TEST_CASE("serializer: GET with Host first", "[http][serializer]") {
    request req;
    req.headers.add("Authorization", "Bearer abc.def.ghi");
    req.headers.add("Accept", "application/json");
    std::string out = "prefix|";
    REQUIRE_FALSE(serialize_request(req, "/userinfo?x=1", "idp.example.com:8443", out));
    CHECK(out == "prefix|GET /userinfo?x=1 HTTP/1.1\r\n"
                 "Host: idp.example.com:8443\r\n"
                 "Authorization: Bearer abc.def.ghi\r\n"
                 "Accept: application/json\r\n"
                 "\r\n");
}

TEST_CASE("serializer: POST form body gets Content-Length", "[http][serializer]") {
    oidc::http::url u;
    REQUIRE_FALSE(oidc::http::parse_url("https://[::1]:8443/realms/x/token", u));
    request req;
    req.method = verb::post;
    req.headers.add("Content-Type", "application/x-www-form-urlencoded");
    req.body = oidc::http::form_body({{"grant_type", "client_credentials"}, {"scope", "a b"}});
    std::string out;
    REQUIRE_FALSE(serialize_request(req, u.target(), u.host_header(), out));
    CHECK(out == "POST /realms/x/token HTTP/1.1\r\n"
                 "Host: [::1]:8443\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: 39\r\n"
                 "\r\n"
                 "grant_type=client_credentials&scope=a+b");
    CHECK(req.body.size() == 39);
}

TEST_CASE("serializer: Content-Length rules", "[http][serializer]") {
    request req;
    std::string out;
    // empty POST / PUT / PATCH: Content-Length: 0
    for (verb v : {verb::post, verb::put, verb::patch}) {
        req.method = v;
        out.clear();
        REQUIRE_FALSE(serialize_request(req, "/", "h", out));
        CHECK(out.find("\r\nContent-Length: 0\r\n\r\n") != std::string::npos);
    }
    // GET / HEAD / DELETE / OPTIONS without body: none
    for (verb v : {verb::get, verb::head, verb::delete_, verb::options}) {
        req.method = v;
        out.clear();
        REQUIRE_FALSE(serialize_request(req, "/", "h", out));
        CHECK(out.find("Content-Length") == std::string::npos);
        CHECK(out.substr(0, oidc::http::to_string(v).size()) == oidc::http::to_string(v));
    }
    // DELETE with a body: yes
    req.method = verb::delete_;
    req.body = "xyz";
    out.clear();
    REQUIRE_FALSE(serialize_request(req, "/", "h", out));
    CHECK(out == "DELETE / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz");
    // the caller's own, when it matches
    req.headers.add("content-length", " 3");
    out.clear();
    REQUIRE_FALSE(serialize_request(req, "/", "h", out));
    CHECK(out == "DELETE / HTTP/1.1\r\nHost: h\r\ncontent-length:  3\r\n\r\nxyz");
    // a mismatching or doubled one is refused
    req.headers.set("Content-Length", "4");
    out = "keep";
    CHECK(serialize_request(req, "/", "h", out) == errc::http_content_length_invalid);
    CHECK(out == "keep");
    req.headers.set("Content-Length", "3");
    req.headers.add("Content-Length", "3");
    CHECK(serialize_request(req, "/", "h", out) == errc::http_content_length_invalid);
    req.headers.set("Content-Length", "3");
    req.headers.add("Transfer-Encoding", "chunked");
    CHECK(serialize_request(req, "/", "h", out) == errc::http_header_invalid);
    CHECK(out == "keep");
}

TEST_CASE("serializer: the caller's Host wins", "[http][serializer]") {
    request req;
    req.headers.add("HOST", "other.example");
    std::string out;
    REQUIRE_FALSE(serialize_request(req, "/", "h", out));
    CHECK(out == "GET / HTTP/1.1\r\nHOST: other.example\r\n\r\n");
    // then host_header is not needed
    out.clear();
    REQUIRE_FALSE(serialize_request(req, "/", "", out));
}

TEST_CASE("serializer: header injection is impossible", "[http][serializer]") {
    const std::string nul(1, '\0');
    for (const std::string& bad_value :
         std::vector<std::string>{"a\r\nX-Injected: 1", "a\nb", "a\rb", "a" + nul + "b", "\x7f",
                                  "\x01", "v\r\n\r\nGET /evil HTTP/1.1"}) {
        request req;
        req.headers.add("X-A", bad_value);
        std::string out = "keep";
        CHECK(serialize_request(req, "/", "h", out) == errc::http_header_invalid);
        CHECK(out == "keep");
    }
    for (const std::string& bad_name : std::vector<std::string>{
             "", "X A", "X:A", "X\r\nA", "X" + nul, "X\tA", "(x)", "\xc3\xa9"}) {
        request req;
        req.headers.add(bad_name, "v");
        std::string out;
        CHECK(serialize_request(req, "/", "h", out) == errc::http_header_invalid);
        CHECK(out.empty());
    }
    request req;
    std::string out;
    for (const std::string& bad_host :
         std::vector<std::string>{"", "h\r\nX: 1", "h h", "h" + nul, "h\x80"}) {
        CHECK(serialize_request(req, "/", bad_host, out) == errc::http_header_invalid);
    }
    for (const std::string& bad_target :
         std::vector<std::string>{"", "/a b", "/a\r\nX: 1", "/a" + nul, "/\xc3\xa9", "/\t"}) {
        CHECK(serialize_request(req, bad_target, "h", out) == errc::url_invalid);
    }
    CHECK(out.empty());
    // values may hold HTAB, inner spaces and obs-text
    req.headers.add("X-Ok", "a\tb c \xc3\xa9");
    REQUIRE_FALSE(serialize_request(req, "/", "h", out));
}

TEST_CASE("serializer: authority-form target for CONNECT-style use", "[http][serializer]") {
    request req;
    std::string out;
    REQUIRE_FALSE(serialize_request(req, "idp.example.com:443", "idp.example.com:443", out));
    CHECK(out.substr(0, 29) == "GET idp.example.com:443 HTTP/");
}
