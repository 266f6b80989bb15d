// Benchmark of the sans-io HTTP pieces: response parsing, request serialization, URL
// parsing. Times are thread CPU time (stable on a loaded machine); each figure is also given
// as a ratio to a plain memcpy of the same bytes, the floor for any parser that keeps a copy.
//
// Usage: bench_http_sansio [iterations-scale]   (default 1)
#include <oidc/http/parser.hpp>
#include <oidc/http/serializer.hpp>
#include <oidc/http/url.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

volatile std::size_t sink = 0;

template <class F>
double ns_per_op(long iters, F&& f) {
    double t0 = cpu_seconds();
    for (long i = 0; i < iters; ++i)
        f();
    return (cpu_seconds() - t0) * 1e9 / static_cast<double>(iters);
}

double memcpy_ns(const std::string& in, long iters) {
    std::vector<char> dst(in.size());
    return ns_per_op(iters, [&] {
        std::memcpy(dst.data(), in.data(), in.size());
        sink = sink + static_cast<std::size_t>(dst[in.size() / 2]);
    });
}

void parse_case(const char* name, const std::string& in, long iters, std::size_t piece) {
    oidc::http::response_parser p;
    double ns = ns_per_op(iters, [&] {
        p.reset();
        std::error_code ec;
        std::string_view rest(in);
        while (!rest.empty() && !p.done() && !ec) {
            std::size_t n = p.feed(rest.substr(0, piece), ec);
            rest.remove_prefix(n);
        }
        if (ec || !p.done()) {
            std::fprintf(stderr, "parse failed: %s\n", ec.message().c_str());
            std::exit(1);
        }
        sink = sink + p.get().body.size();
    });
    double base = memcpy_ns(in, iters);
    std::printf("%-28s %8zu B %10.0f ns %12.0f per s %8.0f MB/s %7.1fx memcpy\n", name, in.size(),
                ns, 1e9 / ns, static_cast<double>(in.size()) / ns * 1e3, ns / base);
}

} // namespace

int main(int argc, char** argv) {
    long scale = argc > 1 ? std::atol(argv[1]) : 1;
    if (scale < 1)
        scale = 1;

    // A token response as nginx / Keycloak send it.
    std::string json(1500, 'x');
    std::string token = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
                        "Date: Wed, 25 Nov 2026 09:00:00 GMT\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(json.size()) +
                        "\r\nConnection: keep-alive\r\nCache-Control: no-store\r\n"
                        "Pragma: no-cache\r\nX-Frame-Options: SAMEORIGIN\r\n"
                        "Strict-Transport-Security: max-age=31536000\r\n"
                        "Vary: Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\n\r\n" +
                        json;
    std::string chunked =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 15; ++i)
        chunked += "64\r\n" + std::string(100, 'y') + "\r\n";
    chunked += "0\r\n\r\n";
    std::string jwks = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(256 * 1024) + "\r\n\r\n" + std::string(256 * 1024, 'k');

    std::printf("%-28s %10s %10s %12s %11s %14s\n", "case", "size", "cpu/op", "ops", "rate",
                "vs memcpy");
    parse_case("parse token response", token, 200000 * scale, token.size());
    parse_case("parse token, 16 KiB reads", token, 200000 * scale, 16384);
    parse_case("parse token, 7-byte reads", token, 50000 * scale, 7);
    parse_case("parse chunked 15x100", chunked, 200000 * scale, chunked.size());
    parse_case("parse 256 KiB JWKS body", jwks, 2000 * scale, 16384);

    oidc::http::request req;
    req.method = oidc::http::verb::get;
    req.headers.add("Authorization", "Bearer " + std::string(1900, 'a'));
    req.headers.add("Accept", "application/json");
    std::string out;
    double ns = ns_per_op(200000 * scale, [&] {
        out.clear();
        if (oidc::http::serialize_request(req, "/api/dossiers?page=2", "api.example.com", out))
            std::exit(1);
        sink = sink + out.size();
    });
    std::printf("%-28s %8zu B %10.0f ns %12.0f per s %8.0f MB/s %7.1fx memcpy\n",
                "serialize GET 1.9 KB bearer", out.size(), ns, 1e9 / ns,
                static_cast<double>(out.size()) / ns * 1e3, ns / memcpy_ns(out, 200000 * scale));

    oidc::http::url u;
    const char* s = "https://idp.example.com:8443/realms/x/protocol/openid-connect/token?a=b";
    ns = ns_per_op(200000 * scale, [&] {
        if (oidc::http::parse_url(s, u))
            std::exit(1);
        sink = sink + u.port;
    });
    std::printf("%-28s %8zu B %10.0f ns %12.0f per s\n", "parse_url", std::strlen(s), ns, 1e9 / ns);
    return 0;
}
