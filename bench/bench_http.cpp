// Keep-alive HTTPS GETs with a ~1.9 KB bearer token against a local server (nginx from
// scripts/bench-http.sh), with oidc::http::client or with libcurl (easy handle reuse,
// loaded with dlopen so that the build needs no libcurl), on N connections.
//
//   bench_http ours|curl URL CA_FILE CONNS SECONDS   -> prints requests per second
#include <oidc/http/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <curl/curl.h>
#include <dlfcn.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

/// User and system CPU time of the process so far, in microseconds.
struct cpu_times {
    double user = 0;
    double sys = 0;
    static cpu_times now() {
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        auto us = [](const timeval& t) {
            return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
        };
        return {us(ru.ru_utime), us(ru.ru_stime)};
    }
};

/// CPU time of the counted requests (from the first one after the warm-up to the end),
/// printed to stderr per request: the client's own cost, whatever else runs on its CPU.
struct cpu_meter {
    std::atomic<bool> started{false};
    cpu_times at_start;
    void start() {
        if (!started.exchange(true))
            at_start = cpu_times::now();
    }
    void report(const char* who, long requests) const {
        if (!started || requests <= 0)
            return;
        const cpu_times end = cpu_times::now();
        const double n = static_cast<double>(requests);
        const double user = (end.user - at_start.user) / n;
        const double sys = (end.sys - at_start.sys) / n;
        std::fprintf(stderr, "%s: cpu per request %.1f us (user %.1f, sys %.1f)\n", who, user + sys,
                     user, sys);
    }
};

std::string bearer() {
    // A JWT-sized token: header.payload.signature of about 1.9 KB in total.
    std::string t = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIn0.";
    while (t.size() < 1550)
        t += "eyJzdWIiOiJiZW5jaCJ9";
    t += '.';
    while (t.size() < 1880)
        t += "c2lnbmF0dXJl";
    return "Bearer " + t;
}

double run_ours(const std::string& url, const std::string& ca, int conns, double seconds) {
    asio::io_context ioc(1);
    oidc::http::client_options o;
    o.ca_file = ca;
    o.max_idle_per_origin = static_cast<std::size_t>(conns);
    oidc::http::client c(ioc.get_executor(), o);
    const std::string auth = bearer();
    std::atomic<long> count{0};
    std::atomic<long> errors{0};
    cpu_meter meter;
    auto start = clock_type::now();
    auto warm_end = start + std::chrono::milliseconds(500);
    auto end = warm_end + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(seconds));
    for (int i = 0; i < conns; ++i)
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                for (;;) {
                    auto now = clock_type::now();
                    if (now >= end)
                        co_return;
                    oidc::http::request req;
                    req.target = url;
                    req.headers.set("Authorization", auth);
                    req.headers.set("Accept", "application/json");
                    auto [ec, res] =
                        co_await c.async_send(std::move(req), oidc::net::use_nothrow_awaitable);
                    if (ec || res.status != 200) {
                        if (++errors < 5)
                            std::fprintf(stderr, "error: %s status %d\n", ec.message().c_str(),
                                         res.status);
                        co_return;
                    }
                    if (now >= warm_end) {
                        meter.start();
                        ++count;
                    }
                }
            },
            asio::detached);
    ioc.run();
    if (errors > 0)
        return 0;
    meter.report("ours", count.load());
    return static_cast<double>(count.load()) / seconds;
}

struct curl_api {
    void* lib = nullptr;
    decltype(&curl_global_init) global_init = nullptr;
    decltype(&curl_easy_init) easy_init = nullptr;
    decltype(&curl_easy_setopt) easy_setopt = nullptr;
    decltype(&curl_easy_perform) easy_perform = nullptr;
    decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
    decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
    decltype(&curl_slist_append) slist_append = nullptr;
    decltype(&curl_slist_free_all) slist_free_all = nullptr;

    bool load() {
        lib = dlopen("libcurl.so.4", RTLD_NOW);
        if (!lib)
            lib = dlopen("libcurl.so", RTLD_NOW);
        if (!lib)
            return false;
        global_init = reinterpret_cast<decltype(global_init)>(dlsym(lib, "curl_global_init"));
        easy_init = reinterpret_cast<decltype(easy_init)>(dlsym(lib, "curl_easy_init"));
        easy_setopt = reinterpret_cast<decltype(easy_setopt)>(dlsym(lib, "curl_easy_setopt"));
        easy_perform = reinterpret_cast<decltype(easy_perform)>(dlsym(lib, "curl_easy_perform"));
        easy_getinfo = reinterpret_cast<decltype(easy_getinfo)>(dlsym(lib, "curl_easy_getinfo"));
        easy_cleanup = reinterpret_cast<decltype(easy_cleanup)>(dlsym(lib, "curl_easy_cleanup"));
        slist_append = reinterpret_cast<decltype(slist_append)>(dlsym(lib, "curl_slist_append"));
        slist_free_all =
            reinterpret_cast<decltype(slist_free_all)>(dlsym(lib, "curl_slist_free_all"));
        return global_init && easy_init && easy_setopt && easy_perform && easy_getinfo &&
               easy_cleanup && slist_append && slist_free_all;
    }
};

std::size_t discard(char*, std::size_t size, std::size_t n, void* userdata) {
    static_cast<std::string*>(userdata)->assign("x");
    return size * n;
}

double run_curl(const std::string& url, const std::string& ca, int conns, double seconds) {
    curl_api api;
    if (!api.load()) {
        std::fprintf(stderr, "libcurl not found\n");
        return 0;
    }
    api.global_init(CURL_GLOBAL_DEFAULT);
    const std::string auth = "Authorization: " + bearer();
    std::atomic<long> count{0};
    std::atomic<long> errors{0};
    cpu_meter meter;
    auto start = clock_type::now();
    auto warm_end = start + std::chrono::milliseconds(500);
    auto end = warm_end + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(seconds));
    auto worker = [&] {
        CURL* h = api.easy_init();
        curl_slist* headers = api.slist_append(nullptr, auth.c_str());
        headers = api.slist_append(headers, "Accept: application/json");
        std::string sink;
        api.easy_setopt(h, CURLOPT_URL, url.c_str());
        api.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        api.easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
        api.easy_setopt(h, CURLOPT_WRITEFUNCTION, &discard);
        api.easy_setopt(h, CURLOPT_WRITEDATA, &sink);
        api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        for (;;) {
            auto now = clock_type::now();
            if (now >= end)
                break;
            CURLcode rc = api.easy_perform(h);
            long status = 0;
            api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (rc != CURLE_OK || status != 200) {
                ++errors;
                break;
            }
            if (now >= warm_end) {
                meter.start();
                ++count;
            }
        }
        api.slist_free_all(headers);
        api.easy_cleanup(h);
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < conns; ++i)
        threads.emplace_back(worker);
    for (auto& t : threads)
        t.join();
    if (errors > 0) {
        std::fprintf(stderr, "curl errors: %ld\n", errors.load());
        return 0;
    }
    meter.report("curl", count.load());
    return static_cast<double>(count.load()) / seconds;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s ours|curl URL CA_FILE CONNS SECONDS\n", argv[0]);
        return 2;
    }
    std::string mode = argv[1];
    int conns = std::atoi(argv[4]);
    double seconds = std::atof(argv[5]);
    if (conns < 1 || seconds <= 0)
        return 2;
    double rps = mode == "curl" ? run_curl(argv[2], argv[3], conns, seconds)
                                : run_ours(argv[2], argv[3], conns, seconds);
    if (rps <= 0)
        return 1;
    std::printf("%.0f\n", rps);
    return 0;
}
