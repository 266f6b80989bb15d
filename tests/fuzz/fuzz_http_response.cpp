// libFuzzer target: the sans-io HTTP/1.1 response parser.
//
// Input: byte 0 = flags (bit 0: HEAD request, bit 1: small limits, bit 2: call feed_eof),
// byte 1 = count k (0..7) of piece-size bytes that follow, then k bytes of piece sizes
// (each size = byte + 1, used in a cycle), then the response bytes.
// The response is parsed whole and in pieces; both results must be the same, and the
// parser's invariants must hold at every step.
#include <oidc/http/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

struct result {
    std::error_code ec;
    bool done = false;
    bool header_done = false;
    bool keep_alive = false;
    std::size_t consumed = 0;
    oidc::http::response res;
};

result run(std::string_view data, const std::vector<std::size_t>& sizes, bool head, bool eof,
           const oidc::http::parser_limits& limits) {
    oidc::http::response_parser p(limits);
    p.reset(head);
    result r;
    std::size_t off = 0;
    std::size_t i = 0;
    std::error_code ec;
    while (off < data.size()) {
        std::size_t want = sizes.empty() ? data.size() : sizes[i++ % sizes.size()];
        std::string_view piece = data.substr(off, want);
        off += piece.size();
        bool was_done = p.done();
        std::size_t n = p.feed(piece, ec);
        FUZZ_CHECK(n <= piece.size());
        if (was_done)
            FUZZ_CHECK(n == 0 && !ec);
        r.consumed += n;
        if (ec) {
            FUZZ_CHECK(p.failed());
            FUZZ_CHECK(!p.done());
            FUZZ_CHECK(p.error() == ec);
            // stays failed
            std::error_code again;
            FUZZ_CHECK(p.feed("HTTP/1.1 200 OK\r\n\r\n", again) == 0);
            FUZZ_CHECK(again == ec);
            break;
        }
        if (!p.done())
            FUZZ_CHECK(n == piece.size());
        if (p.done())
            FUZZ_CHECK(p.header_done());
        FUZZ_CHECK(p.get().body.size() <= limits.max_body_bytes);
        FUZZ_CHECK(p.get().headers.size() <= limits.max_header_count);
    }
    if (!ec && eof) {
        p.feed_eof(ec);
        if (ec)
            FUZZ_CHECK(ec == oidc::errc::http_truncated || ec == p.error());
    }
    if (p.keep_alive())
        FUZZ_CHECK(p.done());
    if (p.done()) {
        const auto& res = p.get();
        FUZZ_CHECK(res.status >= 200 && res.status <= 599);
        FUZZ_CHECK(res.version_minor == 0 || res.version_minor == 1);
        FUZZ_CHECK(res.body.size() <= limits.max_body_bytes);
        if (head || res.status == 204 || res.status == 304)
            FUZZ_CHECK(res.body.empty());
        for (const auto& f : res.headers) {
            FUZZ_CHECK(!f.name.empty());
            FUZZ_CHECK(f.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
        }
    }
    r.ec = ec;
    r.done = p.done();
    r.header_done = p.header_done();
    r.keep_alive = p.keep_alive();
    r.res = p.release();
    return r;
}

bool same_fields(const oidc::http::fields& a, const oidc::http::fields& b) {
    if (a.size() != b.size())
        return false;
    auto i = a.begin();
    for (auto j = b.begin(); j != b.end(); ++i, ++j)
        if (i->name != j->name || i->value != j->value)
            return false;
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2)
        return 0;
    const std::uint8_t flags = data[0];
    const std::size_t k = data[1] % 8;
    if (size < 2 + k)
        return 0;
    std::vector<std::size_t> sizes;
    for (std::size_t i = 0; i < k; ++i)
        sizes.push_back(static_cast<std::size_t>(data[2 + i]) + 1);
    std::string_view in(reinterpret_cast<const char*>(data + 2 + k), size - 2 - k);

    oidc::http::parser_limits limits;
    if (flags & 2) {
        limits.max_header_bytes = 256;
        limits.max_header_count = 8;
        limits.max_body_bytes = 64;
    }
    const bool head = (flags & 1) != 0;
    const bool eof = (flags & 4) != 0;

    result whole = run(in, {}, head, eof, limits);
    std::vector<std::size_t> bytes{1};
    for (const auto* s : {&sizes, &bytes}) {
        if (s->empty())
            continue;
        result pieces = run(in, *s, head, eof, limits);
        FUZZ_CHECK(whole.ec == pieces.ec);
        FUZZ_CHECK(whole.done == pieces.done);
        FUZZ_CHECK(whole.header_done == pieces.header_done);
        FUZZ_CHECK(whole.keep_alive == pieces.keep_alive);
        if (!whole.ec)
            FUZZ_CHECK(whole.consumed == pieces.consumed);
        if (whole.done) {
            FUZZ_CHECK(whole.res.status == pieces.res.status);
            FUZZ_CHECK(whole.res.version_minor == pieces.res.version_minor);
            FUZZ_CHECK(whole.res.reason == pieces.res.reason);
            FUZZ_CHECK(whole.res.body == pieces.res.body);
            FUZZ_CHECK(same_fields(whole.res.headers, pieces.res.headers));
        }
        if (in.size() > 4096)
            break; // byte by byte only on small inputs
    }
    return 0;
}
