// libFuzzer target: URL parsing, percent/form encoding, query parsing and request
// serialization (no header injection whatever the input).
#include <oidc/http/serializer.hpp>
#include <oidc/http/url.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

namespace {
std::size_t count(std::string_view s, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t p = s.find(what); p != std::string_view::npos; p = s.find(what, p + 1))
        ++n;
    return n;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace oidc::http;
    std::string_view in(reinterpret_cast<const char*>(data), size);

    url u;
    if (!parse_url(in, u)) {
        FUZZ_CHECK(u.scheme == "http" || u.scheme == "https");
        FUZZ_CHECK(!u.host.empty());
        FUZZ_CHECK(u.port != 0);
        FUZZ_CHECK(!u.path.empty() && u.path[0] == '/');
        for (char c : u.host)
            FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
        std::string t = u.target();
        FUZZ_CHECK(t.find_first_of(std::string_view("\r\n\0 #", 5)) == std::string::npos);
        std::string hh = u.host_header();
        FUZZ_CHECK(hh.find_first_of(std::string_view("\r\n\0 @/", 6)) == std::string::npos);
        (void)u.is_loopback();
        FUZZ_CHECK(u.origin().find(':', u.scheme.size() + 1) != std::string::npos);
        url again;
        FUZZ_CHECK(!parse_url(u.str(), again));
        FUZZ_CHECK(again == u);

        request req;
        std::string wire;
        FUZZ_CHECK(!serialize_request(req, t, hh, wire));
        FUZZ_CHECK(count(wire, "\r\n") == 3);
    }

    // Encoding round trips.
    std::string out;
    FUZZ_CHECK(percent_decode(percent_encode(in), out, false) && out == in);
    FUZZ_CHECK(percent_decode(form_encode(in), out, true) && out == in);
    (void)percent_decode(in, out, size % 2 == 0);

    // Query parsing: re-encoding the pairs parses back to the same pairs.
    std::error_code ec;
    auto pairs = parse_query(in, ec);
    if (!ec) {
        std::string body;
        for (const auto& [n, v] : pairs)
            form_append(body, n, v);
        auto back = parse_query(body, ec);
        FUZZ_CHECK(!ec);
        // a pair with an empty name and value encodes to "=" and is kept
        FUZZ_CHECK(back == pairs);
    }

    // Serialization: the input as a header value or name never injects a line.
    request req;
    req.headers.add("X-Fuzz", in);
    std::string wire;
    if (!serialize_request(req, "/", "h", wire))
        FUZZ_CHECK(count(wire, "\r\n") == 4 && count(wire, "\n") == 4 && count(wire, "\r") == 4);
    request req2;
    req2.headers.add(in, "v");
    wire.clear();
    if (!serialize_request(req2, "/", "h", wire)) {
        // a caller's Host replaces the one from host_header: one line fewer
        const std::size_t lines = iequals(in, "host") ? 3 : 4;
        FUZZ_CHECK(count(wire, "\r\n") == lines && count(wire, "\n") == lines &&
                   count(wire, "\r") == lines);
    }
    return 0;
}
