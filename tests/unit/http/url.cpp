#include <oidc/http/url.hpp>

#include "catch.hpp"

#include <string>

using oidc::errc;
using oidc::http::parse_url;
using oidc::http::url;

namespace {
url must_parse(std::string_view s) {
    url u;
    std::error_code ec = parse_url(s, u);
    INFO(s);
    REQUIRE_FALSE(ec);
    return u;
}
bool refused(std::string_view s) {
    url u;
    u.host = "unchanged";
    std::error_code ec = parse_url(s, u);
    return ec == errc::url_invalid && u.host == "unchanged";
}
} // namespace

TEST_CASE("url: scheme, host, default ports, path and query", "[http][url]") {
    url u = must_parse("https://idp.example.com/realms/x/protocol/openid-connect/token");
    CHECK(u.scheme == "https");
    CHECK(u.host == "idp.example.com");
    CHECK(u.port == 443);
    CHECK(u.path == "/realms/x/protocol/openid-connect/token");
    CHECK(u.query.empty());
    CHECK(u.target() == "/realms/x/protocol/openid-connect/token");
    CHECK(u.host_header() == "idp.example.com");
    CHECK(u.origin() == "https://idp.example.com:443");
    CHECK_FALSE(u.ipv6_literal());
    CHECK_FALSE(u.is_loopback());

    u = must_parse("http://example.com");
    CHECK(u.port == 80);
    CHECK(u.path == "/");
    CHECK(u.target() == "/");
    CHECK(u.str() == "http://example.com/");
    CHECK(u.origin() == "http://example.com:80");

    u = must_parse("http://example.com?x=1");
    CHECK(u.path == "/");
    CHECK(u.query == "x=1");
    CHECK(u.target() == "/?x=1");

    u = must_parse("https://example.com:8443/jwks?aud=client%20id&x=a/b?c");
    CHECK(u.port == 8443);
    CHECK(u.query == "aud=client%20id&x=a/b?c");
    CHECK(u.target() == "/jwks?aud=client%20id&x=a/b?c");
    CHECK(u.host_header() == "example.com:8443");
    CHECK(u.str() == "https://example.com:8443/jwks?aud=client%20id&x=a/b?c");

    // explicit default port is the default port
    u = must_parse("https://example.com:443/");
    CHECK(u.host_header() == "example.com");
    CHECK(u.str() == "https://example.com/");
    u = must_parse("http://example.com:443/");
    CHECK(u.host_header() == "example.com:443");
    CHECK(u.port == 443);
}

TEST_CASE("url: uppercase scheme and host are lower-cased, path is kept", "[http][url]") {
    url u = must_parse("HTTPS://IdP.Example.COM:8443/Path/%7EUser?Q=A");
    CHECK(u.scheme == "https");
    CHECK(u.host == "idp.example.com");
    CHECK(u.path == "/Path/%7EUser");
    CHECK(u.query == "Q=A");
    CHECK(must_parse("HtTp://x/").scheme == "http");
}

TEST_CASE("url: fragments are dropped", "[http][url]") {
    url u = must_parse("https://example.com/cb?code=1#frag");
    CHECK(u.target() == "/cb?code=1");
    CHECK(u.str() == "https://example.com/cb?code=1");
    CHECK(must_parse("https://example.com#x").target() == "/");
    CHECK(must_parse("https://example.com/a#").target() == "/a");
    CHECK(refused("https://example.com/a#b c"));
    CHECK(refused("https://example.com/a#b#c"));
}

TEST_CASE("url: IPv6 literals", "[http][url]") {
    url u = must_parse("https://[::1]:8443/token");
    CHECK(u.host == "::1");
    CHECK(u.ipv6_literal());
    CHECK(u.port == 8443);
    CHECK(u.host_header() == "[::1]:8443");
    CHECK(u.origin() == "https://[::1]:8443");
    CHECK(u.str() == "https://[::1]:8443/token");
    CHECK(u.is_loopback());

    u = must_parse("http://[2001:DB8::A:1]/");
    CHECK(u.host == "2001:db8::a:1");
    CHECK(u.host_header() == "[2001:db8::a:1]");
    CHECK_FALSE(u.is_loopback());

    CHECK(must_parse("http://[0:0:0:0:0:0:0:1]/").is_loopback());
    CHECK(must_parse("http://[::ffff:127.0.0.2]/").is_loopback());
    CHECK_FALSE(must_parse("http://[::ffff:10.0.0.1]/").is_loopback());
    CHECK(must_parse("http://[1:2:3:4:5:6:7:8]/").host == "1:2:3:4:5:6:7:8");
    CHECK(must_parse("http://[1::]/").host == "1::");
    CHECK(must_parse("http://[::]/").host == "::");
    CHECK(must_parse("http://[1:2:3:4:5:6:1.2.3.4]/").ipv6_literal());

    for (const char* s :
         {"http://[::1/", "http://[]/", "http://[:1]/", "http://[1:]/",
          "http://[1:2:3:4:5:6:7:8:9]/", "http://[1:2:3:4:5:6:7]/", "http://[1::2::3]/",
          "http://[12345::]/", "http://[g::]/", "http://[::1%25eth0]/", "http://[::1]x/",
          "http://[::1]:/", "http://[1:2:3:4:5:6:7::8]/", "http://[::1.2.3]/",
          "http://[1:2:3:4:5:6:7:1.2.3.4]/", "http://::1/", "http://[v1.x]/"}) {
        INFO(s);
        CHECK(refused(s));
    }
}

TEST_CASE("url: loopback detection", "[http][url]") {
    CHECK(must_parse("http://127.0.0.1:8080/").is_loopback());
    CHECK(must_parse("http://127.255.1.2/").is_loopback());
    CHECK(must_parse("http://localhost/").is_loopback());
    CHECK(must_parse("http://LOCALHOST:1/").is_loopback());
    CHECK_FALSE(must_parse("http://128.0.0.1/").is_loopback());
    CHECK_FALSE(must_parse("http://localhost.example.com/").is_loopback());
    CHECK_FALSE(must_parse("http://127.example.com/").is_loopback());
}

TEST_CASE("url: userinfo is refused", "[http][url]") {
    CHECK(refused("https://user:pass@example.com/"));
    CHECK(refused("https://user@example.com/"));
    CHECK(refused("https://@example.com/"));
    CHECK(refused("https://a:b@[::1]/"));
    // '@' in the path or query is not userinfo
    CHECK(must_parse("https://example.com/a@b?c=d@e").path == "/a@b");
}

TEST_CASE("url: ports", "[http][url]") {
    CHECK(must_parse("http://h:1/").port == 1);
    CHECK(must_parse("http://h:65535/").port == 65535);
    CHECK(must_parse("http://h:00080/").port == 80);
    for (const char* s :
         {"http://h:0/", "http://h:65536/", "http://h:99999/", "http://h:123456/", "http://h:/",
          "http://h:8a/", "http://h:-1/", "http://h:+80/", "http://h: 80/", "http://h:80:80/",
          "http://[::1]:0/", "http://[::1]:70000/"}) {
        INFO(s);
        CHECK(refused(s));
    }
}

TEST_CASE("url: schemes, hosts and characters that are refused", "[http][url]") {
    for (const char* s :
         {"", "example.com/x", "//example.com/", "ftp://example.com/", "https:/example.com/",
          "https:example.com", "file:///etc/passwd", "javascript://x/", "httpx://h/", "://h/",
          "https:///path", "https://:443/", "https://?q", "https://#f", "https://ex ample.com/",
          "https://example.com/a b", "https://example.com/a\tb", "https://example.com/a\r\nb",
          "https://example.com/\x7f", "https://example.com/\xc3\xa9",
          "https://exa\xc3\xa9mple.com/", "https://example.com/%", "https://example.com/%4",
          "https://example.com/%G0", "https://example.com/?q=%zz", "https://example.com/<script>",
          "https://example.com/a\"b", "https://example.com/a\\b", "https://example.com/{x}",
          "https://example.com/a|b", "https://exa%41mple.com/", "https://exa_mple.com:443x/",
          "https://a,b.com/", "https://999.0.0.1/", "https://1.2.3/", "https://0127.0.0.1/",
          "https://1.2.3.4.5/",
          // numeric forms that getaddrinfo reads as IPv4 (inet_aton)
          "https://0x7f.0.0.1/", "https://0x7f000001/", "https://0X7F.1/", "https://2130706433/",
          "https://127.1/", "https://10.0x1/", "https://example.123/", "https://example.0x/",
          "https://127.0.0.1./", "https://example.com\\@evil.com/",
          // empty labels
          "https://a..b/", "https://.a/", "https://a../", "https://./", "https://../",
          "https://.example.com./", "http://a..:80/"}) {
        INFO(s);
        CHECK(refused(s));
    }
    // NUL in the middle, built explicitly
    std::string with_nul = "https://example.com/a";
    with_nul += '\0';
    with_nul += "b";
    CHECK(refused(with_nul));
    CHECK(refused(std::string("https://exa") + '\0' + "mple.com/"));
    // a very long host
    CHECK(refused("https://" + std::string(300, 'a') + "/"));
}

TEST_CASE("url: host names with numeric labels that are not last are names", "[http][url]") {
    // Only a numeric last label makes a host an IPv4 address (WHATWG "ends in a number").
    for (const char* s :
         {"https://0x7f.example/", "https://123.example.com/", "https://a.b0x1/",
          "https://example.com.0xg/", "https://1e3.test/", "https://example.com./"}) {
        INFO(s);
        CHECK_FALSE(oidc::http::parse_url(s, *std::make_unique<url>()));
    }
    CHECK(must_parse("https://127.0.0.1:8443/").host == "127.0.0.1");
}

TEST_CASE("url: str() reparses to the same url", "[http][url]") {
    for (const char* s : {"https://example.com", "HTTP://A.B:81/x/y?z=1&w=%20", "http://[::1]:80/",
                          "https://[fe80::1]:9/p?", "http://localhost:8080/a?b#c"}) {
        url a = must_parse(s);
        url b = must_parse(a.str());
        CHECK(a == b);
    }
}

TEST_CASE("percent and form encoding", "[http][url]") {
    using namespace oidc::http;
    CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
    CHECK(percent_encode("a b+c/d?e&f=g%") == "a%20b%2Bc%2Fd%3Fe%26f%3Dg%25");
    CHECK(percent_encode(std::string("\0\xff", 2)) == "%00%FF");
    CHECK(percent_encode("\xc3\xa9") == "%C3%A9");
    CHECK(form_encode("a b+c") == "a+b%2Bc");
    CHECK(form_encode("") == "");

    CHECK(form_body({{"grant_type", "password"},
                     {"client_id", "ea-api-edge"},
                     {"username", "jo@example.com"},
                     {"password", "p&ss w=rd+%"}}) ==
          "grant_type=password&client_id=ea-api-edge&username=jo%40example.com&"
          "password=p%26ss+w%3Drd%2B%25");
    CHECK(form_body({}) == "");
    std::string body;
    form_append(body, "a", "");
    form_append(body, "b c", "d");
    CHECK(body == "a=&b+c=d");

    std::string out;
    CHECK(percent_decode("a%20b+c%2Bd", out, false));
    CHECK(out == "a b+c+d");
    CHECK(percent_decode("a%20b+c%2Bd", out, true));
    CHECK(out == "a b c+d");
    CHECK(percent_decode("%c3%A9", out, false));
    CHECK(out == "\xc3\xa9");
    CHECK(percent_decode("", out, true));
    CHECK(out.empty());
    for (const char* bad : {"%", "%4", "a%", "%G1", "%1G", "%%", "ab%2"}) {
        INFO(bad);
        CHECK_FALSE(percent_decode(bad, out, true));
    }
}

TEST_CASE("percent and form encoding round trip every byte", "[http][url]") {
    using namespace oidc::http;
    std::string all;
    for (int i = 0; i < 256; ++i)
        all += static_cast<char>(i);
    std::string out;
    CHECK(percent_decode(percent_encode(all), out, false));
    CHECK(out == all);
    CHECK(percent_decode(form_encode(all), out, true));
    CHECK(out == all);
    // encoded output only holds unreserved characters, '%' and (form) '+'
    for (char c : form_encode(all))
        CHECK((detail::is_unreserved(c) || c == '%' || c == '+'));

    std::error_code ec;
    auto q = parse_query(form_body({{"a b", all}, {"", "x"}}), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(q.size() == 2);
    CHECK(q[0].first == "a b");
    CHECK(q[0].second == all);
    CHECK(q[1].first.empty());
    CHECK(q[1].second == "x");
}

TEST_CASE("RFC 6749 2.3.1: client id and secret are form-encoded before Basic auth",
          "[http][url]") {
    using namespace oidc::http;
    // The user-id of HTTP Basic may not contain ':'; form encoding removes it.
    std::string id = "my client:1";
    std::string secret = "s3cr+t/=:%";
    std::string credentials = form_encode(id) + ":" + form_encode(secret);
    CHECK(credentials == "my+client%3A1:s3cr%2Bt%2F%3D%3A%25");
    std::size_t colon = credentials.find(':');
    CHECK(credentials.find(':', colon + 1) == std::string::npos);
    std::string back;
    CHECK(percent_decode(credentials.substr(0, colon), back, true));
    CHECK(back == id);
    CHECK(percent_decode(credentials.substr(colon + 1), back, true));
    CHECK(back == secret);
}

TEST_CASE("parse_query: redirect callbacks", "[http][url]") {
    using namespace oidc::http;
    std::error_code ec;
    auto q = parse_query("?code=Spl%2Fx+y&state=abc&&flag&state=def&=v", ec);
    REQUIRE_FALSE(ec);
    REQUIRE(q.size() == 5);
    CHECK(q[0] == std::pair<std::string, std::string>{"code", "Spl/x y"});
    CHECK(q[1] == std::pair<std::string, std::string>{"state", "abc"});
    CHECK(q[2] == std::pair<std::string, std::string>{"flag", ""});
    CHECK(q[3] == std::pair<std::string, std::string>{"state", "def"});
    CHECK(q[4] == std::pair<std::string, std::string>{"", "v"});
    CHECK(parse_query("", ec).empty());
    CHECK_FALSE(ec);
    CHECK(parse_query("a=b=c", ec).at(0).second == "b=c");

    auto bad = parse_query("code=1&state=%zz", ec);
    CHECK(ec == oidc::errc::url_invalid);
    CHECK(bad.empty());
    parse_query("ok=1", ec);
    CHECK_FALSE(ec);
}
