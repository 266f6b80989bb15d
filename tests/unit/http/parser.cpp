#include <oidc/http/parser.hpp>

#include "catch.hpp"

#include <string>
#include <vector>

using oidc::errc;
using oidc::http::parser_limits;
using oidc::http::response;
using oidc::http::response_parser;

namespace {

struct outcome {
    std::error_code ec;
    bool done = false;
    bool keep_alive = false;
    std::size_t consumed = 0;
    int status = 0;
    int version_minor = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct parse_options {
    bool head = false;
    bool eof = false; ///< call feed_eof after the input
    parser_limits limits{};
};

outcome finish(response_parser& p, std::error_code ec, std::size_t consumed,
               const parse_options& o) {
    if (!ec && o.eof)
        p.feed_eof(ec);
    outcome r;
    r.ec = ec;
    r.done = p.done();
    r.keep_alive = p.keep_alive();
    r.consumed = consumed;
    if (p.done()) {
        const response& res = p.get();
        r.status = res.status;
        r.version_minor = res.version_minor;
        r.reason = res.reason;
        for (const auto& f : res.headers)
            r.headers.emplace_back(f.name, f.value);
        r.body = res.body;
    }
    return r;
}

/// Feeds `pieces` one after another, stopping at done or at an error.
outcome parse_pieces(const std::vector<std::string_view>& pieces, const parse_options& o) {
    response_parser p(o.limits);
    p.reset(o.head);
    std::error_code ec;
    std::size_t consumed = 0;
    for (std::string_view piece : pieces) {
        std::size_t n = p.feed(piece, ec);
        REQUIRE(n <= piece.size());
        consumed += n;
        if (ec || p.done()) {
            if (!ec && n < piece.size())
                CHECK_FALSE(p.keep_alive());
            break;
        }
        REQUIRE(n == piece.size());
    }
    return finish(p, ec, consumed, o);
}

void check_same(const outcome& a, const outcome& b) {
    CHECK(a.ec == b.ec);
    CHECK(a.done == b.done);
    CHECK(a.keep_alive == b.keep_alive);
    if (!a.ec)
        CHECK(a.consumed == b.consumed);
    CHECK(a.status == b.status);
    CHECK(a.version_minor == b.version_minor);
    CHECK(a.reason == b.reason);
    CHECK(a.headers == b.headers);
    CHECK(a.body == b.body);
}

/// Parses `in` whole, then in every split into two pieces, then byte by byte, and checks
/// that every way gives the same result. Returns the whole-input result.
outcome parse_all_ways(std::string_view in, const parse_options& o = {}) {
    outcome whole = parse_pieces({in}, o);
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        outcome two = parse_pieces({in.substr(0, cut), in.substr(cut)}, o);
        INFO("split at " << cut);
        check_same(whole, two);
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < in.size(); ++i)
        bytes.push_back(in.substr(i, 1));
    INFO("byte by byte");
    check_same(whole, parse_pieces(bytes, o));
    return whole;
}

outcome ok(std::string_view in, const parse_options& o = {}) {
    INFO(in);
    outcome r = parse_all_ways(in, o);
    REQUIRE_FALSE(r.ec);
    REQUIRE(r.done);
    return r;
}

std::error_code error_of(std::string_view in, const parse_options& o = {}) {
    INFO(in);
    outcome r = parse_all_ways(in, o);
    CHECK_FALSE(r.done);
    return r.ec;
}

parse_options with_eof() {
    parse_options o;
    o.eof = true;
    return o;
}

} // namespace

TEST_CASE("parser: Content-Length response", "[http][parser]") {
    std::string in = "HTTP/1.1 200 OK\r\n"
                     "Content-Type: application/json\r\n"
                     "Cache-Control:  max-age=300 \t\r\n"
                     "Set-Cookie: a=1\r\n"
                     "set-cookie: b=2\r\n"
                     "Content-Length: 15\r\n"
                     "\r\n"
                     "{\"keys\":[1,2]}\n";
    outcome r = ok(in);
    CHECK(r.status == 200);
    CHECK(r.version_minor == 1);
    CHECK(r.reason == "OK");
    CHECK(r.body == "{\"keys\":[1,2]}\n");
    CHECK(r.keep_alive);
    CHECK(r.consumed == in.size());
    REQUIRE(r.headers.size() == 5);
    CHECK(r.headers[1].second == "max-age=300");

    response_parser p;
    std::error_code ec;
    CHECK(p.feed(in, ec) == in.size());
    CHECK(p.header_done());
    CHECK(p.get().headers.get("CONTENT-TYPE") == "application/json");
    CHECK(p.get().headers.get_all("Set-Cookie").size() == 2);
    response res = p.release();
    CHECK(res.body.size() == 15);
    p.reset();
    CHECK_FALSE(p.done());
    CHECK_FALSE(p.header_done());
    CHECK_FALSE(p.started());
    CHECK(p.get().headers.empty());
}

TEST_CASE("parser: a reason phrase is optional, status codes", "[http][parser]") {
    CHECK(ok("HTTP/1.1 204\r\n\r\n").reason.empty());
    CHECK(ok("HTTP/1.1 404 \r\n\r\n", with_eof()).reason.empty());
    CHECK(ok("HTTP/1.1 500 Internal \xe9rror\tx\r\nContent-Length: 0\r\n\r\n").reason ==
          "Internal \xe9rror\tx");
    CHECK(ok("HTTP/1.1 599 x\r\ncontent-length: 0\r\n\r\n").status == 599);
}

TEST_CASE("parser: chunked response with extensions and trailers", "[http][parser]") {
    std::string in = "HTTP/1.1 200 OK\r\n"
                     "Transfer-Encoding: chunked\r\n"
                     "\r\n"
                     "5\r\nhello\r\n"
                     "00006;name=value;x=\"q\"\r\n, worl\r\n"
                     "1 ; ext\r\nd\r\n"
                     "A\r\n0123456789\r\n"
                     "0\r\n"
                     "Trailer-A: 1\r\n"
                     "Expires: never\r\n"
                     "\r\n";
    outcome r = ok(in);
    CHECK(r.body == "hello, world0123456789");
    CHECK(r.keep_alive);
    CHECK(r.consumed == in.size());
    CHECK(r.headers.size() == 1); // trailers dropped
    CHECK(ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").body.empty());
    CHECK(ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: , Chunked ,\r\n\r\nf\r\n0123456789abcde\r\n"
             "0\r\n\r\n")
              .body.size() == 15);
}

TEST_CASE("parser: 1xx interim responses are skipped", "[http][parser]") {
    std::string in = "HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                     "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    outcome r = ok(in);
    CHECK(r.status == 201);
    CHECK(r.reason == "Created");
    CHECK(r.body == "ok");
    REQUIRE(r.headers.size() == 1);
    CHECK(r.headers[0].first == "Content-Length");

    response_parser p;
    std::error_code ec;
    p.feed("HTTP/1.1 100 Continue\r\n\r\n", ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(p.header_done());
    CHECK_FALSE(p.done());
    // 101 is never asked for
    CHECK(error_of("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n") ==
          errc::http_status_line_invalid);
}

TEST_CASE("parser: HEAD, 204 and 304 have no body", "[http][parser]") {
    parse_options head;
    head.head = true;
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n";
    outcome r = ok(in, head);
    CHECK(r.body.empty());
    CHECK(r.keep_alive);
    r = ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head);
    CHECK(r.keep_alive);
    r = ok("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
    CHECK(r.body.empty());
    CHECK(r.keep_alive);
    r = ok("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
    CHECK(r.body.empty());
    CHECK(r.keep_alive);

    // bytes after a body-less response: the connection is not reusable
    std::string extra = "HTTP/1.1 204 No Content\r\n\r\nXYZ";
    response_parser p;
    std::error_code ec;
    CHECK(p.feed(extra, ec) == extra.size() - 3);
    CHECK_FALSE(ec);
    CHECK(p.done());
    CHECK_FALSE(p.keep_alive());
}

TEST_CASE("parser: body delimited by close", "[http][parser]") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    outcome r = ok(in, with_eof());
    CHECK(r.body == "until the end");
    CHECK_FALSE(r.keep_alive);
    CHECK(ok("HTTP/1.0 200 OK\r\n\r\n", with_eof()).body.empty());

    response_parser p;
    std::error_code ec;
    p.feed(in, ec);
    CHECK_FALSE(p.done());
    CHECK(p.header_done());
    p.feed_eof(ec);
    CHECK_FALSE(ec);
    CHECK(p.done());
    CHECK_FALSE(p.keep_alive());
}

TEST_CASE("parser: keep-alive rules", "[http][parser]") {
    CHECK(ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK_FALSE(ok("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK_FALSE(ok("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n")
                    .keep_alive);
    CHECK_FALSE(ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK(ok("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx").keep_alive);
    CHECK_FALSE(ok("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n")
                    .keep_alive);
    CHECK(ok("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

TEST_CASE("parser: the rest after a complete response is not consumed", "[http][parser]") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n";
    outcome r = parse_pieces({in}, {});
    CHECK(r.done);
    CHECK(r.body == "abc");
    CHECK(r.consumed == in.size() - 17);
    CHECK_FALSE(r.keep_alive);

    // split exactly at the end: reusable; more bytes fed later are extra and spoil it
    response_parser p;
    std::error_code ec;
    CHECK(p.feed(in.substr(0, in.size() - 17), ec) == in.size() - 17);
    CHECK(p.keep_alive());
    CHECK(p.feed("H", ec) == 0);
    CHECK_FALSE(ec);
    CHECK_FALSE(p.keep_alive());
    p.feed_eof(ec);
    CHECK_FALSE(ec);
    CHECK(p.done());
}

TEST_CASE("parser: status line errors", "[http][parser]") {
    for (const char* s :
         {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
          "HTTP/1.1 200OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n",
          "HTTP/1.1 600 x\r\n\r\n", "HTTP/1.1 abc x\r\n\r\n", "HTTP/1.1\r\n\r\n",
          "HTTP/11 200 OK\r\n\r\n", "HTTP/1.x 200 OK\r\n\r\n", "ICY 200 OK\r\n\r\n",
          "\r\nHTTP/1.1 200 OK\r\n\r\n", "<html>\r\n", " HTTP/1.1 200 OK\r\n\r\n",
          "HTTP/1.1 200 O\x01K\r\n\r\n", "HTTP/1.1 200 OK\n\r\n", "HTTP/1.1 200 OK\r\r\n\r\n"}) {
        INFO(s);
        CHECK(error_of(s) == errc::http_status_line_invalid);
    }
    CHECK(error_of(std::string("HTTP/1.1 200 O\0K\r\n\r\n", 19)) == errc::http_status_line_invalid);
    for (const char* s : {"HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.2 200 OK\r\n\r\n",
                          "HTTP/0.9 200 OK\r\n\r\n", "HTTP/3.0 200 OK\r\n\r\n"}) {
        INFO(s);
        CHECK(error_of(s) == errc::http_version_unsupported);
    }
}

TEST_CASE("parser: header errors", "[http][parser]") {
    for (const char* s : {
             "HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
             "HTTP/1.1 200 OK\r\nName : v\r\n\r\n",
             "HTTP/1.1 200 OK\r\n Name: v\r\n\r\n",
             "HTTP/1.1 200 OK\r\n: v\r\n\r\n",
             "HTTP/1.1 200 OK\r\nNa(me: v\r\n\r\n",
             "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
             "HTTP/1.1 200 OK\r\nA: b\r\n\tfolded\r\n\r\n",
             "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
             "HTTP/1.1 200 OK\r\nA: b\x7f\r\n\r\n",
             "HTTP/1.1 200 OK\r\nA: b\x1b[31m\r\n\r\n",
             "HTTP/1.1 200 OK\r\nA: b\nB: c\r\n\r\n",
             "HTTP/1.1 200 OK\r\nA: b\r\n\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
             "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             // request smuggling: both framings
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         }) {
        INFO(s);
        CHECK(error_of(s) == errc::http_header_invalid);
    }
    CHECK(error_of(std::string("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", 27)) ==
          errc::http_header_invalid);
    // a value may hold obs-text and inner spaces
    auto r =
        ok("HTTP/1.1 200 OK\r\nX-A: \xc3\xa9 t\tu\r\nX-Empty:\r\nX-Sp:   \r\n\r\n", with_eof());
    REQUIRE(r.headers.size() == 3);
    CHECK(r.headers[0].second == "\xc3\xa9 t\tu");
    CHECK(r.headers[1].second.empty());
    CHECK(r.headers[2].second.empty());
}

TEST_CASE("parser: Content-Length rules", "[http][parser]") {
    CHECK(ok("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc").body == "abc");
    CHECK(ok("HTTP/1.1 200 OK\r\nContent-Length: 3, 3,3\r\n\r\nabc").body == "abc");
    CHECK(ok("HTTP/1.1 200 OK\r\nContent-Length: 003\r\n\r\nabc").body == "abc");
    CHECK(ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").body.empty());
    for (const char* s : {
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
             "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
             "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
             "HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\nabc",
             "HTTP/1.1 200 OK\r\nContent-Length: 3 3\r\n\r\nabc",
             "HTTP/1.1 200 OK\r\nContent-Length: 3.0\r\n\r\nabc",
             "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
         }) {
        INFO(s);
        CHECK(error_of(s) == errc::http_content_length_invalid);
    }
    // The body limit is checked against Content-Length before any body byte.
    CHECK(error_of("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n") ==
          errc::http_body_too_large);
    CHECK(error_of("HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n") ==
          errc::http_body_too_large);
    // a short body is truncated
    CHECK(error_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", with_eof()) ==
          errc::http_truncated);
}

TEST_CASE("parser: chunk errors", "[http][parser]") {
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (const char* body : {
             "x\r\n",
             "\r\n",
             "-1\r\n",
             "+1\r\nx\r\n0\r\n\r\n",
             "0x1\r\nx\r\n0\r\n\r\n",
             "1 x\r\nx\r\n0\r\n\r\n",
             "1;a\x01\r\nx\r\n0\r\n\r\n",
             "1\nx\r\n0\r\n\r\n",
             "3\r\nabcd\r\n0\r\n\r\n",
             "3\r\nabc\n0\r\n\r\n",
             "3\r\nabcXY\r\n",
             "10000000000000000\r\n",
             "0\r\nbad trailer\r\n\r\n",
             "0\r\nA: b\nB: c\r\n\r\n",
             "0\r\n folded: x\r\n\r\n",
             "0\r\n\n",
         }) {
        INFO(body);
        CHECK(error_of(head + body) == errc::http_chunk_invalid);
    }
    CHECK(error_of(head + "fffffffffffffff\r\n") == errc::http_body_too_large);
    CHECK(error_of(head + "100001\r\n") == errc::http_body_too_large);
    // too long chunk extension
    CHECK(error_of(head + "1;" + std::string(5000, 'a') + "\r\nx\r\n0\r\n\r\n") ==
          errc::http_chunk_invalid);
    // truncated in every place
    for (const char* body :
         {"", "5", "5\r", "5\r\n", "5\r\nhel", "5\r\nhello", "5\r\nhello\r", "5\r\nhello\r\n",
          "5\r\nhello\r\n0\r\n", "5\r\nhello\r\n0\r\nA: b\r\n"}) {
        INFO(body);
        CHECK(error_of(head + body, with_eof()) == errc::http_truncated);
    }
}

TEST_CASE("parser: header limits", "[http][parser]") {
    parse_options small;
    small.limits.max_header_bytes = 64;
    small.limits.max_header_count = 3;
    // exactly at the limit: 64 bytes of status line + headers + final CRLF
    std::string head = "HTTP/1.1 200 OK\r\n";      // 17
    head += "A: " + std::string(24, 'a') + "\r\n"; // 29 -> 46
    head += "Content-Length: 0\r\n";               // 19 -> 65 ... one too many
    CHECK(error_of(head + "\r\n", small) == errc::http_headers_too_large);
    std::string fits =
        "HTTP/1.1 200 OK\r\nA: " + std::string(23, 'a') + "\r\nContent-Length: 0\r\n\r\n";
    CHECK(fits.size() == 66);
    small.limits.max_header_bytes = 66;
    CHECK(ok(fits, small).headers.size() == 2);
    small.limits.max_header_bytes = 65;
    CHECK(error_of(fits, small) == errc::http_headers_too_large);

    small.limits.max_header_bytes = 1024;
    CHECK(error_of("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", small) ==
          errc::http_headers_too_large);
    CHECK(ok("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n", small).done);
    // a line that never ends fails as soon as it cannot fit
    response_parser p(small.limits);
    std::error_code ec;
    std::string junk(2000, 'x');
    p.feed("HTTP/1.1 200 OK\r\nA: ", ec);
    CHECK_FALSE(ec);
    p.feed(junk, ec);
    CHECK(ec == errc::http_headers_too_large);
    CHECK(p.failed());
    // and stays failed
    CHECK(p.feed("\r\n\r\n", ec) == 0);
    CHECK(ec == errc::http_headers_too_large);
    p.feed_eof(ec);
    CHECK(ec == errc::http_headers_too_large);

    // interim responses count towards the header limit
    std::string many;
    for (int i = 0; i < 100; ++i)
        many += "HTTP/1.1 100 Continue\r\n\r\n";
    CHECK(error_of(many + "HTTP/1.1 200 OK\r\n\r\n", small) == errc::http_headers_too_large);
    // trailers are size-limited too
    small.limits.max_header_bytes = 128;
    CHECK(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " +
                       std::string(200, 't') + "\r\n\r\n",
                   small) == errc::http_chunk_invalid);
}

TEST_CASE("parser: body limits", "[http][parser]") {
    parse_options small;
    small.limits.max_body_bytes = 10;
    CHECK(ok("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", small).body.size() == 10);
    CHECK(error_of("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a", small) ==
          errc::http_body_too_large);
    CHECK(ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n"
             "0\r\n\r\n",
             small)
              .body.size() == 10);
    CHECK(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n6\r\n",
                   small) == errc::http_body_too_large);
    parse_options close_small = small;
    close_small.eof = true;
    CHECK(ok("HTTP/1.1 200 OK\r\n\r\n0123456789", close_small).body.size() == 10);
    CHECK(error_of("HTTP/1.1 200 OK\r\n\r\n0123456789a", close_small) == errc::http_body_too_large);
}

TEST_CASE("parser: truncated headers and empty input", "[http][parser]") {
    for (const char* s :
         {"", "H", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nA: b\r\n",
          "HTTP/1.1 200 OK\r\nA: b\r\n\r", "HTTP/1.1 100 Continue\r\n\r\n"}) {
        INFO(s);
        CHECK(error_of(s, with_eof()) == errc::http_truncated);
    }
    response_parser p;
    std::error_code ec;
    CHECK_FALSE(p.started());
    p.feed_eof(ec);
    CHECK(ec == errc::http_truncated);
    CHECK_FALSE(p.started()); // nothing arrived: a stale idle connection
    p.reset();
    p.feed("H", ec);
    CHECK(p.started());
}

TEST_CASE("parser: a parser is reused across responses", "[http][parser]") {
    response_parser p;
    std::error_code ec;
    for (int i = 0; i < 3; ++i) {
        p.reset(i == 1);
        std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        if (i == 1)
            in.resize(in.size() - 2); // no body after a HEAD request
        std::size_t n = p.feed(in, ec);
        REQUIRE_FALSE(ec);
        REQUIRE(p.done());
        CHECK(p.keep_alive());
        if (i == 1) {
            CHECK(n == in.size());
            CHECK(p.get().body.empty());
        } else {
            CHECK(n == in.size());
            CHECK(p.release().body == "hi");
        }
    }
    // a failed parser is usable again after reset()
    p.reset();
    p.feed("garbage\r\n", ec);
    CHECK(ec == errc::http_status_line_invalid);
    p.reset();
    p.feed("HTTP/1.1 204 x\r\n\r\n", ec);
    CHECK_FALSE(ec);
    CHECK(p.done());
}

TEST_CASE("parser: a large body is taken in bulk", "[http][parser]") {
    std::string body(512 * 1024, 'z');
    std::string in =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    response_parser p;
    std::error_code ec;
    std::size_t total = 0;
    for (std::size_t off = 0; off < in.size(); off += 16384)
        total += p.feed(std::string_view(in).substr(off, 16384), ec);
    CHECK_FALSE(ec);
    CHECK(total == in.size());
    REQUIRE(p.done());
    CHECK(p.get().body == body);
}

TEST_CASE("parser: the word-at-a-time field-value check agrees with the table", "[http][parser]") {
    using oidc::http::detail::http_chars;
    using oidc::http::detail::is_field_value;
    for (int b = 0; b < 256; ++b) {
        const bool allowed = b == '\t' || (b >= 0x20 && b != 0x7f);
        CHECK(http_chars.field_char[b] == allowed);
        for (std::size_t len : {1u, 7u, 8u, 9u, 16u, 23u, 31u, 32u, 40u}) {
            for (std::size_t pos = 0; pos < len; ++pos) {
                std::string s(len, 'a');
                s[pos] = static_cast<char>(b);
                if (is_field_value(s) != allowed) {
                    FAIL_CHECK("byte " << b << " at " << pos << " of " << len);
                }
            }
        }
    }
    // bytes around the borders in one word: 0x80 next to 0x1f, 0xff next to 0x00, ...
    CHECK_FALSE(is_field_value(std::string("\x80\x1f\x80\x80\x80\x80\x80\x80", 8)));
    CHECK_FALSE(is_field_value(std::string("\xff\xff\xff\xff\xff\xff\xff\x00", 8)));
    CHECK(is_field_value(std::string("\x80\x20\x7e\xff\x21\t\x7e\x80", 8)));
}
