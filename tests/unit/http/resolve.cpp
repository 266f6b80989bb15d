// Tests for include/oidc/http/resolve.hpp: host lookups on threads of their own, bounded,
// ended by abort() or a cancellation, safe across the io_context's destruction. The tests
// that need a lookup to hang use resolve_getaddrinfo (a gate that the test opens); the
// [.slow-dns] ones use a DNS server that never answers (the http-dns stage).
#include <oidc/http/resolve.hpp>

#include "catch.hpp"
#include "dns_blackhole.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
namespace resolve_rd = oidc::http::detail;

namespace {

using resolve_endpoints = std::vector<asio::ip::tcp::endpoint>;
using resolve_clock = std::chrono::steady_clock;

/// Waits (at most `limit`) until no lookup thread is alive in the process.
bool resolve_wait_threads(std::chrono::milliseconds limit) {
    const auto t0 = resolve_clock::now();
    while (resolve_rd::resolve_threads_alive() != 0) {
        if (resolve_clock::now() - t0 > limit)
            return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// The gate of gated_getaddrinfo. Trivially destructible: a lookup thread may still read it
// while the process exits (the exit probe below).
std::atomic<bool> resolve_gate_open{true};
std::atomic<int> resolve_gate_inside{0};
std::atomic<int> resolve_gate_calls{0}; // every call with a gated.test name
// Calls of gated_getaddrinfo on a thread that does not block SIGINT and SIGTERM.
std::atomic<int> resolve_gate_signals_open{0};

/// A getaddrinfo() for tests: a name under gated.test waits for the gate (20 s at most),
/// then answers 127.0.0.1; a few names under fake.test fail with a given EAI code; any
/// other name goes to ::getaddrinfo.
int gated_getaddrinfo(const char* host, const char* service, const ::addrinfo* hints,
                      ::addrinfo** res) {
    const std::string_view h = host ? host : "";
    sigset_t mask;
    if (::pthread_sigmask(SIG_BLOCK, nullptr, &mask) != 0 || !sigismember(&mask, SIGINT) ||
        !sigismember(&mask, SIGTERM))
        ++resolve_gate_signals_open;
    if (h.ends_with(".gated.test")) {
        ++resolve_gate_calls;
        ++resolve_gate_inside;
        const auto t0 = resolve_clock::now();
        while (!resolve_gate_open.load() && resolve_clock::now() - t0 < 20s)
            std::this_thread::sleep_for(1ms);
        --resolve_gate_inside;
        return ::getaddrinfo("127.0.0.1", service, hints, res);
    }
    if (h == "noname.fake.test")
        return EAI_NONAME;
    if (h == "again.fake.test")
        return EAI_AGAIN;
    if (h == "system.fake.test") {
        errno = ECONNREFUSED;
        return EAI_SYSTEM;
    }
    return ::getaddrinfo(host, service, hints, res);
}

/// For one test: gated_getaddrinfo installed, the gate closed. At the end the gate opens and
/// every lookup thread ends before the real getaddrinfo comes back.
class gated_lookups {
public:
    gated_lookups() {
        REQUIRE(resolve_wait_threads(10s));
        resolve_gate_open = false;
        prev_ = resolve_rd::resolve_getaddrinfo.exchange(&gated_getaddrinfo);
    }
    ~gated_lookups() {
        open();
        resolve_wait_threads(25s);
        resolve_rd::resolve_getaddrinfo.store(prev_);
    }
    gated_lookups(const gated_lookups&) = delete;
    gated_lookups& operator=(const gated_lookups&) = delete;

    void open() { resolve_gate_open = true; }
    /// Waits until `n` lookup threads wait at the gate.
    bool wait_inside(int n, std::chrono::milliseconds limit = 5s) const {
        const auto t0 = resolve_clock::now();
        while (resolve_gate_inside.load() < n) {
            if (resolve_clock::now() - t0 > limit)
                return false;
            std::this_thread::sleep_for(1ms);
        }
        return true;
    }

private:
    resolve_rd::getaddrinfo_fn prev_ = nullptr;
};

/// set_max_resolve_threads(n) for one test.
class resolve_bound {
public:
    explicit resolve_bound(std::size_t n) : prev_(resolve_rd::set_max_resolve_threads(n)) {}
    ~resolve_bound() { resolve_rd::set_max_resolve_threads(prev_); }
    resolve_bound(const resolve_bound&) = delete;
    resolve_bound& operator=(const resolve_bound&) = delete;

private:
    std::size_t prev_;
};

/// What a handler received; `calls` counts its invocations.
struct resolve_seen {
    int calls = 0;
    std::error_code ec;
    resolve_endpoints eps;
    resolve_clock::time_point at;
};

/// A handler that records into `s` (single-threaded io_context).
auto resolve_record(resolve_seen& s) {
    return [&s](std::error_code ec, resolve_endpoints eps) {
        ++s.calls;
        s.ec = ec;
        s.eps = std::move(eps);
        s.at = resolve_clock::now();
    };
}

/// Runs `ioc` one handler at a time until `done()` or `limit`.
template <class Done>
bool resolve_run_until(asio::io_context& ioc, Done done, std::chrono::milliseconds limit = 5s) {
    const auto t0 = resolve_clock::now();
    ioc.restart();
    while (!done() && resolve_clock::now() - t0 < limit)
        ioc.run_one_for(10ms);
    return done();
}

resolve_endpoints resolve_one_endpoint(const char* address, unsigned short port) {
    return {asio::ip::tcp::endpoint(asio::ip::make_address(address), port)};
}

/// Records on which thread it is destroyed.
struct resolve_destroyed_on {
    explicit resolve_destroyed_on(std::thread::id* w) : where(w) {}
    resolve_destroyed_on(const resolve_destroyed_on&) = delete;
    resolve_destroyed_on& operator=(const resolve_destroyed_on&) = delete;
    ~resolve_destroyed_on() { *where = std::this_thread::get_id(); }
    std::thread::id* where;
};

/// Two lookups of `domain` names on `ioc` whose handlers own something of the context: a
/// coroutine frame holding a socket (awaitable handler), and a callback holding an object.
/// Records on which thread each is destroyed and whether either ran.
struct resolve_pending_pair {
    std::thread::id frame_gone, handler_gone;
    bool resumed = false, called = false;
    std::shared_ptr<resolve_rd::pending_resolve> callback_op;

    void start(asio::io_context& ioc, const std::string& domain) {
        asio::co_spawn(
            ioc,
            [this, domain]() -> asio::awaitable<void> {
                auto ex = co_await asio::this_coro::executor;
                asio::ip::tcp::socket sock(ex);
                sock.open(asio::ip::tcp::v4());
                resolve_destroyed_on probe(&frame_gone);
                co_await resolve_rd::async_resolve_endpoints(ex, "frame." + domain, "80",
                                                             oidc::net::use_nothrow_awaitable);
                resumed = true;
            },
            asio::detached);
        callback_op = resolve_rd::start_resolve(
            ioc.get_executor(), "callback." + domain, "80",
            [probe = std::make_shared<resolve_destroyed_on>(&handler_gone),
             this](std::error_code, resolve_endpoints) { called = true; });
    }
};

/// Runs this test program again with "[resolve-exit-probe]" and
/// OIDC_TEST_RESOLVE_EXIT_PROBE=`mode` (its output discarded); returns its exit status, or
/// 128 + the signal that killed it, or -1 when it did not end within 20 s (killed then).
/// With `started`, polled meanwhile, `*took` is the time from the first poll that returned
/// true to the child's end.
int run_exit_probe(const std::string& mode, std::function<bool()> started = {},
                   std::chrono::milliseconds* took = nullptr) {
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) {
        const std::string_view var = *e;
        if (var.starts_with("OIDC_TEST_RESOLVE_EXIT_PROBE="))
            continue;
        env_store.emplace_back(var);
        // ThreadSanitizer sleeps 1 s in exit() by default (atexit_sleep_ms).
        if (var.starts_with("TSAN_OPTIONS="))
            env_store.back() += ":atexit_sleep_ms=0";
    }
    env_store.push_back("OIDC_TEST_RESOLVE_EXIT_PROBE=" + mode);
    std::vector<char*> envp;
    for (auto& e : env_store)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string exe = "/proc/self/exe", filter = "[resolve-exit-probe]";
    char* argv[] = {exe.data(), filter.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const auto t0 = resolve_clock::now();
    int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -2;
    int status = 0;
    std::optional<resolve_clock::time_point> started_at;
    for (;;) {
        if (started && !started_at && started())
            started_at = resolve_clock::now();
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -3;
        if (resolve_clock::now() - t0 > 20s) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(5ms);
    }
    if (took)
        *took = std::chrono::duration_cast<std::chrono::milliseconds>(resolve_clock::now() -
                                                                      started_at.value_or(t0));
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -4;
}

} // namespace

TEST_CASE("resolve: localhost gives asio's resolver's loopback endpoints, through the handler's "
          "executor, never inline",
          "[http-client][resolve]") {
    asio::io_context ioc;
    bool returned = false, on_context = false;
    resolve_seen s;
    auto op = resolve_rd::start_resolve(
        ioc.get_executor(), "localhost", "8080", [&](std::error_code ec, resolve_endpoints eps) {
            on_context = returned && ioc.get_executor().running_in_this_thread();
            resolve_record(s)(ec, std::move(eps));
        });
    returned = true;
    CHECK(s.calls == 0);
    ioc.run_for(5s);
    CHECK(ioc.stopped()); // no work left once the handler ran
    REQUIRE(s.calls == 1);
    CHECK(on_context);
    REQUIRE_FALSE(s.ec);
    REQUIRE_FALSE(s.eps.empty());
    for (const auto& ep : s.eps) {
        CHECK(ep.address().is_loopback());
        CHECK(ep.port() == 8080);
    }
    // The same endpoints in the same order as asio::ip::tcp::resolver (same hints).
    asio::ip::tcp::resolver resolver(ioc);
    resolve_endpoints expected;
    for (const auto& r : resolver.resolve("localhost", "8080"))
        expected.push_back(r.endpoint());
    CHECK(s.eps == expected);
    // abort() after the completion does nothing.
    op->abort();
    ioc.restart();
    ioc.run_for(50ms);
    CHECK(s.calls == 1);
}

TEST_CASE("resolve: the handler runs on its associated executor", "[http-client][resolve]") {
    asio::io_context ioc;
    auto strand = asio::make_strand(ioc);
    int calls = 0;
    bool in_strand = false;
    std::error_code got;
    resolve_rd::start_resolve(
        ioc.get_executor(), "localhost", "80",
        asio::bind_executor(strand, [&](std::error_code ec, resolve_endpoints) {
            ++calls;
            got = ec;
            in_strand = strand.running_in_this_thread();
        }));
    ioc.run_for(5s);
    CHECK(calls == 1);
    CHECK_FALSE(got);
    CHECK(in_strand);
}

TEST_CASE("resolve: IP literals are converted without a lookup thread", "[http-client][resolve]") {
    resolve_bound no_threads(0); // a lookup of a name fails with try_again
    asio::io_context ioc;
    resolve_seen v4, v6, name;
    resolve_rd::start_resolve(ioc.get_executor(), "127.0.0.1", "443", resolve_record(v4));
    resolve_rd::start_resolve(ioc.get_executor(), "::1", "8443", resolve_record(v6));
    resolve_rd::start_resolve(ioc.get_executor(), "localhost", "443", resolve_record(name));
    CHECK(v4.calls + v6.calls + name.calls == 0); // never inline
    ioc.run_for(5s);
    CHECK(ioc.stopped());
    REQUIRE(v4.calls == 1);
    CHECK_FALSE(v4.ec);
    CHECK(v4.eps == resolve_one_endpoint("127.0.0.1", 443));
    REQUIRE(v6.calls == 1);
    CHECK_FALSE(v6.ec);
    CHECK(v6.eps == resolve_one_endpoint("::1", 8443));
    REQUIRE(name.calls == 1);
    CHECK(name.ec == asio::error::try_again);
}

TEST_CASE("resolve: getaddrinfo's errors are reported as asio's resolver reports them",
          "[http-client][resolve]") {
    using resolve_rd::resolve_error;
    CHECK_FALSE(resolve_error(0, 0));
    CHECK(resolve_error(EAI_NONAME, 0) == asio::error::host_not_found);
#if defined(EAI_NODATA)
    CHECK(resolve_error(EAI_NODATA, 0) == asio::error::host_not_found);
#endif
#if defined(EAI_ADDRFAMILY)
    CHECK(resolve_error(EAI_ADDRFAMILY, 0) == asio::error::host_not_found);
#endif
    CHECK(resolve_error(EAI_AGAIN, 0) == asio::error::host_not_found_try_again);
    CHECK(resolve_error(EAI_FAIL, 0) == asio::error::no_recovery);
    CHECK(resolve_error(EAI_BADFLAGS, 0) == asio::error::invalid_argument);
    CHECK(resolve_error(EAI_FAMILY, 0) == asio::error::address_family_not_supported);
    CHECK(resolve_error(EAI_MEMORY, 0) == asio::error::no_memory);
    CHECK(resolve_error(EAI_SERVICE, 0) == asio::error::service_not_found);
    CHECK(resolve_error(EAI_SOCKTYPE, 0) == asio::error::socket_type_not_supported);
    CHECK(resolve_error(EAI_SYSTEM, ECONNREFUSED) == asio::error::connection_refused);
    CHECK(resolve_error(EAI_SYSTEM, 0) == asio::error::no_recovery);
    // An answer without any IPv4 or IPv6 address.
    CHECK(resolve_rd::resolve_outcome{}.error() == asio::error::host_not_found);

    // Through a lookup thread and the handler.
    gated_lookups gate;
    asio::io_context ioc;
    resolve_seen noname, again, sys;
    resolve_rd::start_resolve(ioc.get_executor(), "noname.fake.test", "80", resolve_record(noname));
    resolve_rd::start_resolve(ioc.get_executor(), "again.fake.test", "80", resolve_record(again));
    resolve_rd::start_resolve(ioc.get_executor(), "system.fake.test", "80", resolve_record(sys));
    ioc.run_for(5s);
    CHECK(ioc.stopped());
    CHECK(noname.calls == 1);
    CHECK(noname.ec == asio::error::host_not_found);
    CHECK(noname.eps.empty());
    CHECK(again.calls == 1);
    CHECK(again.ec == asio::error::host_not_found_try_again);
    CHECK(sys.calls == 1);
    CHECK(sys.ec == asio::error::connection_refused);
    // The lookup threads block every signal (as Asio's resolver thread does).
    CHECK(resolve_gate_signals_open == 0);
}

TEST_CASE("resolve: abort() before the answer completes once with operation_aborted, and run() "
          "returns while getaddrinfo still runs",
          "[http-client][resolve]") {
    gated_lookups gate;
    asio::io_context ioc;
    resolve_seen s;
    auto op =
        resolve_rd::start_resolve(ioc.get_executor(), "abort.gated.test", "80", resolve_record(s));
    REQUIRE(gate.wait_inside(1)); // the lookup thread is inside getaddrinfo
    op->abort();
    CHECK(s.calls == 0); // never inside abort()
    op->abort();         // a second abort() changes nothing
    const auto t0 = resolve_clock::now();
    ioc.run_for(5s);
    CHECK(resolve_clock::now() - t0 < 1s);
    CHECK(ioc.stopped()); // no work left, although the lookup thread still waits
    REQUIRE(s.calls == 1);
    CHECK(s.ec == asio::error::operation_aborted);
    CHECK(s.eps.empty());
    CHECK(resolve_rd::resolve_threads_alive() == 1);
    // The late answer is dropped.
    gate.open();
    REQUIRE(resolve_wait_threads(5s));
    ioc.restart();
    ioc.run_for(50ms);
    CHECK(s.calls == 1);
}

TEST_CASE("resolve: any cancellation type of the handler's slot ends the lookup; the slot is "
          "cleared before the handler runs",
          "[http-client][resolve]") {
    gated_lookups gate;
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                      asio::cancellation_type::total}) {
        CAPTURE(static_cast<int>(type));
        asio::io_context ioc;
        asio::cancellation_signal sig;
        resolve_seen s;
        bool slot_cleared = false;
        resolve_rd::start_resolve(ioc.get_executor(), "cancel.gated.test", "80",
                                  asio::bind_cancellation_slot(
                                      sig.slot(), [&](std::error_code ec, resolve_endpoints eps) {
                                          slot_cleared = !sig.slot().has_handler();
                                          resolve_record(s)(ec, std::move(eps));
                                      }));
        CHECK(sig.slot().has_handler());
        sig.emit(type);
        CHECK(s.calls == 0); // never inside the signal
        ioc.run_for(5s);
        CHECK(ioc.stopped());
        REQUIRE(s.calls == 1);
        CHECK(s.ec == asio::error::operation_aborted);
        CHECK(slot_cleared);
    }
    // An answer clears the slot too.
    asio::io_context ioc;
    asio::cancellation_signal sig;
    resolve_seen s;
    bool slot_cleared = false;
    resolve_rd::start_resolve(
        ioc.get_executor(), "answer.gated.test", "80",
        asio::bind_cancellation_slot(sig.slot(), [&](std::error_code ec, resolve_endpoints eps) {
            slot_cleared = !sig.slot().has_handler();
            resolve_record(s)(ec, std::move(eps));
        }));
    gate.open();
    ioc.run_for(5s);
    REQUIRE(s.calls == 1);
    CHECK_FALSE(s.ec);
    CHECK(s.eps == resolve_one_endpoint("127.0.0.1", 80));
    CHECK(slot_cleared);
}

TEST_CASE("resolve: awaited with as_tuple(use_awaitable), and raced against a timer",
          "[http-client][resolve]") {
    gated_lookups gate;
    asio::io_context ioc;
    std::error_code first_ec;
    resolve_endpoints first;
    std::size_t winner = 9;
    bool done = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            using namespace asio::experimental::awaitable_operators;
            auto ex = co_await asio::this_coro::executor;
            std::tie(first_ec, first) = co_await resolve_rd::async_resolve_endpoints(
                ex, "127.0.0.1", "80", oidc::net::use_nothrow_awaitable);
            asio::steady_timer t(ex, 50ms);
            auto r = co_await (resolve_rd::async_resolve_endpoints(
                                   ex, "race.gated.test", "80", oidc::net::use_nothrow_awaitable) ||
                               t.async_wait(oidc::net::use_nothrow_awaitable));
            winner = r.index();
            done = true;
        },
        asio::detached);
    const auto t0 = resolve_clock::now();
    ioc.run_for(5s);
    CHECK(resolve_clock::now() - t0 < 2s);
    CHECK(ioc.stopped());
    REQUIRE(done);
    CHECK_FALSE(first_ec);
    CHECK(first == resolve_one_endpoint("127.0.0.1", 80));
    CHECK(winner == 1); // the timer; the lookup was cancelled through its slot
}

TEST_CASE("resolve: 64 concurrent lookups on a 4-thread io_context each complete once, "
          "at most 4 lookup threads alive",
          "[http-client][resolve]") {
    REQUIRE(resolve_wait_threads(10s));
    resolve_bound four(4); // most lookups wait in the queue
    constexpr int n = 64;
    std::atomic<std::size_t> peak{0};
    asio::io_context ioc(4);
    std::vector<std::atomic<int>> calls(n);
    std::atomic<int> ok{0}, busy{0}, other{0}, off_context{0};
    for (int i = 0; i < n; ++i) {
        asio::post(ioc, [&, i] {
            const unsigned short port = static_cast<unsigned short>(1000 + i);
            resolve_rd::start_resolve(
                ioc.get_executor(), "localhost", std::to_string(port),
                [&, i, port](std::error_code ec, resolve_endpoints eps) {
                    ++calls[static_cast<std::size_t>(i)];
                    const std::size_t alive = resolve_rd::resolve_threads_alive();
                    std::size_t seen = peak.load();
                    while (alive > seen && !peak.compare_exchange_weak(seen, alive)) {
                    }
                    if (!ioc.get_executor().running_in_this_thread())
                        ++off_context;
                    bool good = !ec && !eps.empty();
                    for (const auto& ep : eps)
                        good = good && ep.address().is_loopback() && ep.port() == port;
                    if (good)
                        ++ok;
                    else if (ec == asio::error::try_again)
                        ++busy;
                    else
                        ++other;
                });
        });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] { ioc.run_for(20s); });
    for (auto& t : threads)
        t.join();
    CHECK(ioc.stopped());
    for (int i = 0; i < n; ++i)
        CHECK(calls[static_cast<std::size_t>(i)].load() == 1);
    CHECK(other == 0);
    CHECK(off_context == 0);
    CHECK(busy == 0); // beyond the bound a lookup waits, it is not refused
    CHECK(ok == n);
    CHECK(peak <= 4);
    CHECK(resolve_wait_threads(10s));
    CHECK(resolve_rd::resolve_lookups_queued() == 0);
}

TEST_CASE("resolve: beyond the thread bound lookups wait in a queue; an aborted one, or one "
          "whose context is destroyed, leaves it without a lookup",
          "[http-client][resolve]") {
    gated_lookups gate;
    resolve_bound two(2);
    const int calls0 = resolve_gate_calls.load();
    asio::io_context ioc;
    resolve_seen a, b, c, d, e, lit;
    auto op_a =
        resolve_rd::start_resolve(ioc.get_executor(), "a.gated.test", "80", resolve_record(a));
    resolve_rd::start_resolve(ioc.get_executor(), "b.gated.test", "80", resolve_record(b));
    REQUIRE(gate.wait_inside(2));
    CHECK(resolve_rd::resolve_threads_alive() == 2);
    resolve_rd::start_resolve(ioc.get_executor(), "c.gated.test", "81", resolve_record(c));
    auto op_d =
        resolve_rd::start_resolve(ioc.get_executor(), "d.gated.test", "82", resolve_record(d));
    resolve_rd::start_resolve(ioc.get_executor(), "e.gated.test", "83", resolve_record(e));
    CHECK(resolve_rd::resolve_lookups_queued() == 3);
    CHECK(resolve_rd::resolve_threads_alive() == 2);
    ioc.run_for(50ms);
    CHECK(c.calls + d.calls + e.calls == 0); // waiting, not refused
    // An IP literal needs no thread.
    resolve_rd::start_resolve(ioc.get_executor(), "127.0.0.1", "80", resolve_record(lit));
    REQUIRE(resolve_run_until(ioc, [&] { return lit.calls == 1; }));
    CHECK_FALSE(lit.ec);
    // A queued lookup that is aborted completes at once and leaves the queue.
    op_d->abort();
    REQUIRE(resolve_run_until(ioc, [&] { return d.calls == 1; }));
    CHECK(d.ec == asio::error::operation_aborted);
    CHECK(resolve_rd::resolve_lookups_queued() == 2);
    // So does one whose io_context is destroyed (its handler with it, uncalled).
    {
        asio::io_context other;
        bool called = false;
        resolve_rd::start_resolve(other.get_executor(), "f.gated.test", "84",
                                  [&](std::error_code, resolve_endpoints) { called = true; });
        CHECK(resolve_rd::resolve_lookups_queued() == 3);
        other.run_for(20ms);
        CHECK_FALSE(called);
    }
    CHECK(resolve_rd::resolve_lookups_queued() == 2);
    // An aborted lookup's thread still waits in getaddrinfo, and still counts.
    op_a->abort();
    REQUIRE(resolve_run_until(ioc, [&] { return a.calls == 1; }));
    CHECK(a.ec == asio::error::operation_aborted);
    ioc.run_for(30ms);
    CHECK(c.calls + e.calls == 0);
    CHECK(resolve_rd::resolve_threads_alive() == 2);
    // Once getaddrinfo returns, the two threads serve the queue.
    gate.open();
    REQUIRE(resolve_run_until(ioc, [&] { return b.calls + c.calls + e.calls == 3; }));
    CHECK_FALSE(b.ec);
    CHECK_FALSE(c.ec);
    CHECK(c.eps == resolve_one_endpoint("127.0.0.1", 81));
    CHECK_FALSE(e.ec);
    CHECK(e.eps == resolve_one_endpoint("127.0.0.1", 83));
    REQUIRE(resolve_wait_threads(5s));
    CHECK(resolve_rd::resolve_lookups_queued() == 0);
    CHECK(resolve_gate_calls.load() - calls0 == 4); // a, b, c, e: never d or f
    CHECK(a.calls == 1);
    CHECK(d.calls == 1);
}

TEST_CASE("resolve: 200 lookups on 4 threads under a bound of 3, each raced against a timer "
          "of 0-2 ms: each ends once, the queue empties, the threads end",
          "[http-client][resolve]") {
    REQUIRE(resolve_wait_threads(10s));
    resolve_bound three(3); // most lookups wait in the queue; many are cancelled there
    constexpr int n = 200;
    asio::io_context ioc(4);
    std::vector<std::atomic<int>> ends(n);
    std::atomic<int> answered{0}, timer_won{0}, other{0};
    for (int i = 0; i < n; ++i) {
        // Each race on a strand of its own: the two branches of || complete on any thread.
        asio::co_spawn(
            asio::make_strand(ioc),
            [&, i]() -> asio::awaitable<void> {
                using namespace asio::experimental::awaitable_operators;
                auto ex = co_await asio::this_coro::executor;
                asio::steady_timer t(ex, std::chrono::milliseconds(i % 3));
                const unsigned short port = static_cast<unsigned short>(2000 + i);
                auto r = co_await (
                    resolve_rd::async_resolve_endpoints(ex, "localhost", std::to_string(port),
                                                        oidc::net::use_nothrow_awaitable) ||
                    t.async_wait(oidc::net::use_nothrow_awaitable));
                ++ends[static_cast<std::size_t>(i)];
                if (r.index() == 1) {
                    ++timer_won;
                    co_return;
                }
                auto [ec, eps] = std::get<0>(r);
                if (!ec && !eps.empty() && eps[0].port() == port)
                    ++answered;
                else
                    ++other;
            },
            asio::detached);
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] { ioc.run_for(30s); });
    for (auto& t : threads)
        t.join();
    CHECK(ioc.stopped());
    for (int i = 0; i < n; ++i)
        CHECK(ends[static_cast<std::size_t>(i)].load() == 1);
    CHECK(answered + timer_won == n);
    CHECK(other == 0);
    CHECK(resolve_wait_threads(10s));
    CHECK(resolve_rd::resolve_lookups_queued() == 0);
}

TEST_CASE("resolve: the queue is served first in, first out", "[http-client][resolve]") {
    gated_lookups gate;
    resolve_bound one(1);
    asio::io_context ioc;
    std::vector<int> order;
    resolve_rd::start_resolve(ioc.get_executor(), "first.gated.test", "80",
                              [&](std::error_code, resolve_endpoints) { order.push_back(0); });
    REQUIRE(gate.wait_inside(1));
    for (int i = 1; i <= 5; ++i)
        resolve_rd::start_resolve(ioc.get_executor(), "q.gated.test", std::to_string(80 + i),
                                  [&, i](std::error_code ec, resolve_endpoints eps) {
                                      if (!ec && eps.size() == 1 &&
                                          eps[0].port() == static_cast<unsigned short>(80 + i))
                                          order.push_back(i);
                                      else
                                          order.push_back(-i);
                                  });
    CHECK(resolve_rd::resolve_lookups_queued() == 5);
    gate.open();
    REQUIRE(resolve_run_until(ioc, [&] { return order.size() == 6; }));
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
    CHECK(resolve_wait_threads(5s));
}

TEST_CASE("resolve: destroying the io_context while lookups are pending destroys their handlers "
          "there, and the late answers touch nothing",
          "[http-client][resolve]") {
    gated_lookups gate;
    const auto self = std::this_thread::get_id();
    resolve_pending_pair pair;
    auto ioc = std::make_unique<asio::io_context>();
    pair.start(*ioc, "gated.test");
    ioc->run_for(30ms);
    REQUIRE(gate.wait_inside(2));
    CHECK(resolve_rd::resolve_threads_alive() == 2);
    const auto t0 = resolve_clock::now();
    ioc.reset();
    CHECK(resolve_clock::now() - t0 < 500ms);
    CHECK(pair.frame_gone == self);
    CHECK(pair.handler_gone == self);
    CHECK_FALSE(pair.resumed);
    CHECK_FALSE(pair.called);
    pair.callback_op->abort(); // after the context is gone: nothing
    // The late answers are dropped without touching the dead context (ASan, TSan).
    gate.open();
    CHECK(resolve_wait_threads(5s));
    CHECK_FALSE(pair.called);
}

// Run by the test below (and by the [.slow-dns] one) in a child process: leaves lookup
// threads waiting in getaddrinfo, destroys the io_context (or leaves that to the exit, for a
// static one), and returns; the process exits with the threads still waiting.
TEST_CASE("resolve: exit probe (run by other tests in a child process)", "[.resolve-exit-probe]") {
    const char* env = std::getenv("OIDC_TEST_RESOLVE_EXIT_PROBE");
    REQUIRE(env != nullptr);
    const std::string mode = env;
    std::string host = "exit.gated.test";
    if (mode == "dns") {
        host = "exit.slow-dns.test"; // the parent's dns_blackhole never answers
    } else {
        resolve_gate_open = false;
        resolve_rd::resolve_getaddrinfo = &gated_getaddrinfo;
    }
    static std::optional<asio::io_context> static_ioc; // destroyed by the exit
    std::optional<asio::io_context> local_ioc;
    asio::io_context& ioc = mode == "gated-static" ? static_ioc.emplace() : local_ioc.emplace();
    asio::co_spawn(
        ioc,
        [host]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            asio::ip::tcp::socket sock(ex);
            sock.open(asio::ip::tcp::v4());
            co_await resolve_rd::async_resolve_endpoints(ex, host, "80",
                                                         oidc::net::use_nothrow_awaitable);
        },
        asio::detached);
    resolve_rd::start_resolve(
        ioc.get_executor(), host, "80",
        [keep = std::make_shared<int>(1)](std::error_code, resolve_endpoints) {});
    // A third lookup waits in the queue at the exit.
    resolve_rd::set_max_resolve_threads(2);
    resolve_rd::start_resolve(
        ioc.get_executor(), "queued." + host, "80",
        [keep = std::make_shared<int>(1)](std::error_code, resolve_endpoints) {});
    ioc.run_for(100ms);
    CHECK(resolve_rd::resolve_threads_alive() == 2);
    CHECK(resolve_rd::resolve_lookups_queued() == 1);
}

TEST_CASE("resolve: the process exits cleanly while lookup threads wait in getaddrinfo",
          "[http-client][resolve]") {
    for (const char* mode : {"gated", "gated-static"}) {
        CAPTURE(mode);
        CHECK(run_exit_probe(mode) == 0);
    }
}

// ---- against a DNS server that never answers (see tests/support/dns_blackhole.hpp; the
// http-dns stage of scripts/stages/20-http.sh). /etc/hosts there names fast.slow-dns.test. ----

namespace {

// getaddrinfo's own time with the stage's resolv.conf (one attempt of 2 s).
constexpr auto resolve_dns_time = 2s;

/// Waits (at most `limit`) until the blackhole saw `n` queries.
bool resolve_wait_queries(const oidc_test::dns_blackhole& dns, int n,
                          std::chrono::milliseconds limit = 3s) {
    const auto t0 = resolve_clock::now();
    while (dns.queries() < n) {
        if (resolve_clock::now() - t0 > limit)
            return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

} // namespace

TEST_CASE("resolve: while DNS never answers one lookup, a name from /etc/hosts resolves at once; "
          "the unanswered one fails as asio's resolver fails it",
          "[.slow-dns]") {
    oidc_test::dns_blackhole dns;
    REQUIRE(resolve_wait_threads(10s));
    asio::io_context ioc;
    resolve_seen slow, fast;
    const auto t_slow = resolve_clock::now();
    resolve_rd::start_resolve(ioc.get_executor(), "nowhere.invalid", "80", resolve_record(slow));
    REQUIRE(resolve_wait_queries(dns, 1)); // getaddrinfo is waiting for the DNS server
    // For comparison, asio's resolver: the same names, one getaddrinfo after the other.
    asio::ip::tcp::resolver asio_resolver(ioc);
    std::optional<std::error_code> asio_slow, asio_fast;
    resolve_clock::time_point asio_fast_at;
    asio_resolver.async_resolve(
        "nowhere.invalid", "80",
        [&](std::error_code ec, asio::ip::tcp::resolver::results_type) { asio_slow = ec; });
    const auto t_fast = resolve_clock::now();
    asio_resolver.async_resolve("fast.slow-dns.test", "80",
                                [&](std::error_code ec, asio::ip::tcp::resolver::results_type) {
                                    asio_fast = ec;
                                    asio_fast_at = resolve_clock::now();
                                });
    resolve_rd::start_resolve(ioc.get_executor(), "fast.slow-dns.test", "80", resolve_record(fast));
    REQUIRE(resolve_run_until(ioc, [&] { return fast.calls == 1; }));
    CHECK(fast.at - t_fast < 300ms);
    CHECK_FALSE(fast.ec);
    CHECK(fast.eps == resolve_one_endpoint("127.0.0.1", 80));
    CHECK(slow.calls == 0);
    REQUIRE(resolve_run_until(
        ioc, [&] { return slow.calls == 1 && asio_slow && asio_fast; }, resolve_dns_time * 4));
    CHECK(slow.at - t_slow > resolve_dns_time / 2);
    CHECK(slow.ec == *asio_slow);
    CHECK(slow.ec == asio::error::host_not_found_try_again);
    // Asio's resolver answered the /etc/hosts name only after the unanswered one.
    CHECK_FALSE(*asio_fast);
    CHECK(asio_fast_at - t_fast > resolve_dns_time / 2);
    CHECK(resolve_wait_threads(5s));
}

TEST_CASE("resolve: an unknown name fails as asio's resolver fails it when no DNS server listens",
          "[.slow-dns]") {
    REQUIRE(std::getenv("OIDC_TEST_DNS_BLACKHOLE") != nullptr); // inside the stage's namespaces
    REQUIRE(resolve_wait_threads(10s));
    asio::io_context ioc;
    resolve_seen ours;
    std::optional<std::error_code> theirs;
    const auto t0 = resolve_clock::now();
    resolve_rd::start_resolve(ioc.get_executor(), "nowhere.invalid", "80", resolve_record(ours));
    asio::ip::tcp::resolver asio_resolver(ioc);
    asio_resolver.async_resolve(
        "nowhere.invalid", "80",
        [&](std::error_code ec, asio::ip::tcp::resolver::results_type) { theirs = ec; });
    REQUIRE(resolve_run_until(
        ioc, [&] { return ours.calls == 1 && theirs; }, resolve_dns_time * 4));
    CHECK(resolve_clock::now() - t0 < resolve_dns_time);
    REQUIRE(ours.ec);
    CHECK(ours.ec == *theirs);
    CHECK(ours.eps.empty());
}

TEST_CASE("resolve: abort() ends a lookup that DNS never answers and run() returns; destroying "
          "the io_context while lookups wait for DNS is prompt",
          "[.slow-dns]") {
    oidc_test::dns_blackhole dns;
    REQUIRE(resolve_wait_threads(10s));
    {
        asio::io_context ioc;
        resolve_seen s;
        auto op = resolve_rd::start_resolve(ioc.get_executor(), "abort.slow-dns.test", "80",
                                            resolve_record(s));
        REQUIRE(resolve_wait_queries(dns, 1));
        op->abort();
        const auto t0 = resolve_clock::now();
        ioc.run_for(resolve_dns_time * 2);
        CHECK(resolve_clock::now() - t0 < 300ms);
        CHECK(ioc.stopped());
        CHECK(s.calls == 1);
        CHECK(s.ec == asio::error::operation_aborted);
        CHECK(resolve_rd::resolve_threads_alive() ==
              1); // getaddrinfo still waits for the DNS server
    }
    const auto self = std::this_thread::get_id();
    resolve_pending_pair pair;
    auto ioc = std::make_unique<asio::io_context>();
    const int before = dns.queries();
    pair.start(*ioc, "slow-dns.test");
    ioc->run_for(30ms);
    REQUIRE(resolve_wait_queries(dns, before + 2));
    CHECK(resolve_rd::resolve_threads_alive() == 3);
    const auto t0 = resolve_clock::now();
    ioc.reset();
    CHECK(resolve_clock::now() - t0 < 300ms);
    CHECK(pair.frame_gone == self);
    CHECK(pair.handler_gone == self);
    CHECK_FALSE(pair.resumed);
    CHECK_FALSE(pair.called);
    // getaddrinfo gives up after about resolve_dns_time; the answers are dropped.
    CHECK(resolve_wait_threads(resolve_dns_time * 3));
    CHECK_FALSE(pair.called);
}

TEST_CASE("resolve: the process exits at once while lookups wait for DNS that never answers",
          "[.slow-dns]") {
    oidc_test::dns_blackhole dns;
    const int before = dns.queries();
    // From the child's first DNS query to its end: far less than getaddrinfo's own time.
    std::chrono::milliseconds took{};
    CHECK(run_exit_probe(
              "dns", [&] { return dns.queries() > before; }, &took) == 0);
    CHECK(dns.queries() > before);
    CHECK(took < resolve_dns_time - 500ms);
}
