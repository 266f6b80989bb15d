// asio-oidc: host name lookups that never wait for one another.
//
// asio::ip::tcp::resolver runs every getaddrinfo() of an execution context on one background
// thread, one call at a time: a name whose DNS server never answers holds back every other
// lookup of the context for the system resolver's whole timeout. Here each lookup runs on a
// thread of its own (up to a process-wide bound, beyond which lookups wait in a queue for
// the first free thread), and completes on the first of its answer, abort() and its
// cancellation slot.
#pragma once

#include <oidc/detail/config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/query.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace oidc::http::detail {

/// A name resolution that a timeout, a close or a cancellation can end before the system
/// resolver returns. getaddrinfo() cannot be interrupted, so the operation completes on
/// whichever comes first - the answer, abort(), the handler's cancellation slot - and a late
/// answer is dropped. Made by start_resolve(); callers may hold it weakly (no cycle through
/// the handler): the lookup keeps itself alive until it completes.
class pending_resolve {
public:
    virtual ~pending_resolve() = default;
    /// Completes the operation with asio::error::operation_aborted unless it completed
    /// already (or its execution context shut down). Never calls the handler inline; safe
    /// from any thread, under any lock of the caller's.
    virtual void abort() = 0;
};

/// The most lookup threads alive at once in the process, unless set_max_resolve_threads()
/// changed it. A thread stays alive (and counted) until getaddrinfo() returns, also after
/// its request ended: with DNS that never answers, that is the system resolver's timeout
/// times its attempts. Lookups started while the bound is reached wait in a queue, in order.
inline constexpr std::size_t default_max_resolve_threads = 32;

/// The signature of getaddrinfo(); see resolve_getaddrinfo.
using getaddrinfo_fn = int (*)(const char*, const char*, const ::addrinfo*, ::addrinfo**);

/// The function the lookup threads call instead of ::getaddrinfo when set: a seam for tests
/// (a lookup that answers late without a DNS server), never set by the library. Read once
/// per lookup, when it starts; the list it returns is freed with ::freeaddrinfo. IP literals
/// never reach it.
inline std::atomic<getaddrinfo_fn> resolve_getaddrinfo{nullptr};

// Process-wide thread accounting, mirrored from resolve_queue for lock-free reads.
// Trivially destructible (a detached lookup thread may still touch them while the process
// exits).
inline std::atomic<std::size_t> resolve_threads_alive_{0};
inline std::atomic<std::size_t> resolve_queued_{0};
inline std::atomic<std::size_t> resolve_threads_max_{default_max_resolve_threads};

/// The lookup threads alive now, in the whole process (for tests and diagnostics).
inline std::size_t resolve_threads_alive() noexcept {
    return resolve_threads_alive_.load(std::memory_order_acquire);
}

/// The lookups waiting for a lookup thread now, in the whole process (for tests and
/// diagnostics). A lookup leaves the queue when a thread takes it or when it completes
/// (abort, cancellation, its context's shutdown).
inline std::size_t resolve_lookups_queued() noexcept {
    return resolve_queued_.load(std::memory_order_acquire);
}

/// Sets the bound on lookup threads alive at once (process-wide); returns the previous one.
/// Threads alive beyond a lowered bound finish their lookup and end; the queue is served by
/// the threads within the bound (and always by the last thread alive). With a bound of 0,
/// lookups of names fail at once with asio::error::try_again.
inline std::size_t set_max_resolve_threads(std::size_t n) noexcept {
    return resolve_threads_max_.exchange(n, std::memory_order_acq_rel);
}

/// getaddrinfo()'s result as Asio's resolver reports it (translate_addrinfo_error in
/// asio/detail/impl/socket_ops.ipp): `gai` is getaddrinfo()'s return value, `sys` the errno
/// it left (read for EAI_SYSTEM). An unknown code with no errno is no_recovery (Asio would
/// report success).
inline std::error_code resolve_error(int gai, int sys) noexcept {
    switch (gai) {
    case 0:
        return {};
    case EAI_AGAIN:
        return asio::error::host_not_found_try_again;
    case EAI_BADFLAGS:
        return asio::error::invalid_argument;
    case EAI_FAIL:
        return asio::error::no_recovery;
    case EAI_FAMILY:
        return asio::error::address_family_not_supported;
    case EAI_MEMORY:
        return asio::error::no_memory;
    case EAI_NONAME:
#if defined(EAI_ADDRFAMILY)
    case EAI_ADDRFAMILY:
#endif
#if defined(EAI_NODATA) && (EAI_NODATA != EAI_NONAME)
    case EAI_NODATA:
#endif
        return asio::error::host_not_found;
    case EAI_SERVICE:
        return asio::error::service_not_found;
    case EAI_SOCKTYPE:
        return asio::error::socket_type_not_supported;
    default: // EAI_SYSTEM
        if (sys != 0)
            return std::error_code(sys, asio::error::get_system_category());
        return asio::error::no_recovery;
    }
}

/// How a lookup ended, in plain values: the lookup thread builds it, and the error_code is
/// made only on the handler's executor (error categories are statics a thread outliving
/// main() must not touch).
struct resolve_outcome {
    enum class kind : unsigned char {
        answer,  ///< getaddrinfo() returned: `gai`, `sys`, `endpoints`
        aborted, ///< abort() or the cancellation slot
        busy,    ///< no lookup thread could be started (the bound, or the system refused)
    };
    kind what = kind::answer;
    int gai = 0;
    int sys = 0;
    std::vector<asio::ip::tcp::endpoint> endpoints;

    /// The error the handler receives: operation_aborted, asio::error::try_again for
    /// `busy`, resolve_error() for an answer, host_not_found for an answer without any IPv4
    /// or IPv6 address.
    std::error_code error() const noexcept {
        switch (what) {
        case kind::aborted:
            return asio::error::operation_aborted;
        case kind::busy:
            return asio::error::try_again;
        case kind::answer:
            break;
        }
        if (gai != 0)
            return resolve_error(gai, sys);
        if (endpoints.empty())
            return asio::error::host_not_found;
        return {};
    }
};

/// getaddrinfo(host, port) for TCP: AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, `flags` (the hints
/// of asio::ip::tcp::resolver::async_resolve(host, service), which passes no flag). The
/// IPv4 and IPv6 addresses come back in getaddrinfo()'s order (RFC 6724). Throws
/// std::bad_alloc only.
inline resolve_outcome lookup_endpoints(const std::string& host, const std::string& port, int flags,
                                        getaddrinfo_fn fn) {
    ::addrinfo hints{};
    hints.ai_flags = flags;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    ::addrinfo* list = nullptr;
    resolve_outcome out;
    errno = 0;
    out.gai = fn(host.empty() ? nullptr : host.c_str(), port.empty() ? nullptr : port.c_str(),
                 &hints, &list);
    out.sys = errno;
    if (out.gai != 0)
        return out;
    struct list_free {
        void operator()(::addrinfo* p) const noexcept { ::freeaddrinfo(p); }
    };
    std::unique_ptr<::addrinfo, list_free> owner(list);
    for (const ::addrinfo* ai = list; ai; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || !ai->ai_addr)
            continue;
        asio::ip::tcp::endpoint ep;
        if (ai->ai_addrlen > ep.capacity())
            continue;
        std::memcpy(ep.data(), ai->ai_addr, ai->ai_addrlen);
        ep.resize(ai->ai_addrlen);
        out.endpoints.push_back(ep);
    }
    return out;
}

/// Blocks every signal in the calling thread while it lives: a thread started meanwhile
/// inherits the mask, so that lookup threads, like Asio's resolver thread, never take a
/// process signal.
class resolve_signal_blocker {
public:
    resolve_signal_blocker() noexcept {
        sigset_t all;
        sigfillset(&all);
        blocked_ = ::pthread_sigmask(SIG_BLOCK, &all, &old_) == 0;
    }
    ~resolve_signal_blocker() {
        if (blocked_)
            ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    resolve_signal_blocker(const resolve_signal_blocker&) = delete;
    resolve_signal_blocker& operator=(const resolve_signal_blocker&) = delete;

private:
    sigset_t old_{};
    bool blocked_ = false;
};

class resolve_op_base;

/// A lookup to run on a lookup thread.
struct resolve_job {
    std::shared_ptr<resolve_op_base> op;
    std::string host;
    std::string port;
    getaddrinfo_fn fn = nullptr;
};

/// The process's lookup threads and the lookups waiting for one (first in, first out).
/// Never destroyed: detached lookup threads use it while the process exits.
struct resolve_pool {
    std::mutex mu;
    std::size_t threads = 0;      // alive; mirrored in resolve_threads_alive_
    std::list<resolve_job> queue; // mirrored in resolve_queued_

    static resolve_pool& get() {
        static resolve_pool* const pool = new resolve_pool;
        return *pool;
    }

    // The mirrors for lock-free readers; called under `mu` after every change.
    void publish_locked() noexcept {
        resolve_threads_alive_.store(threads, std::memory_order_release);
        resolve_queued_.store(queue.size(), std::memory_order_release);
    }
};

/// The lookups of one execution context that have not completed, and whether the context
/// shut down. Owned by the context's resolve_service and by every lookup of the context, so
/// that a lookup thread finishing after the context is gone finds `dead` here and touches
/// nothing else. `mu` orders every completion against the shutdown: a completion is posted
/// only while `dead` is false, that is before any service of the context shut down (the
/// scheduler was created first, so it shuts down after resolve_service).
struct resolve_registry {
    std::mutex mu;
    bool dead = false;
    std::list<std::shared_ptr<resolve_op_base>> pending; // started, not completed
};

/// The part of a lookup that does not depend on the handler's type.
class resolve_op_base : public pending_resolve {
public:
    explicit resolve_op_base(std::shared_ptr<resolve_registry> reg) : reg_(std::move(reg)) {}

    void abort() override { complete(resolve_outcome{resolve_outcome::kind::aborted, 0, 0, {}}); }

    /// Completes the operation with `o` (posts the handler to its executor and ends the work
    /// it tracked) unless it completed already or the context shut down; a lookup still
    /// waiting for a thread leaves the queue. Any thread.
    void complete(resolve_outcome&& o) {
        std::shared_ptr<resolve_op_base> self; // the registry's reference, dropped unlocked
        {
            std::lock_guard<std::mutex> lock(reg_->mu);
            if (reg_->dead || done_)
                return; // a late answer, a second abort, or after the shutdown: dropped
            done_ = true;
            if (registered_) {
                self = std::move(*where_);
                reg_->pending.erase(where_);
                registered_ = false;
            }
            post_locked(std::move(o));
        }
        leave_queue();
    }

    /// True once the operation completed or its context shut down: its lookup need not run.
    bool settled() const {
        std::lock_guard<std::mutex> lock(reg_->mu);
        return reg_->dead || done_;
    }

    /// Moves the job of this lookup, the single element of `node`, to the end of the pool's
    /// queue. Under the pool's mutex.
    static void enqueue_locked(resolve_pool& pool, std::list<resolve_job>& node) noexcept {
        const auto it = node.begin();
        pool.queue.splice(pool.queue.end(), node, it);
        it->op->queued_ = true;
        it->op->slot_ = it;
        pool.publish_locked();
    }

    /// Takes the first job of the pool's queue (which must not be empty). Under the pool's
    /// mutex.
    static resolve_job dequeue_locked(resolve_pool& pool) noexcept {
        resolve_job job = std::move(pool.queue.front());
        pool.queue.pop_front();
        job.op->queued_ = false;
        pool.publish_locked();
        return job;
    }

    /// Removes this lookup's job from the pool's queue, if it waits there. The caller holds
    /// a reference to this lookup other than the job's.
    void leave_queue() noexcept {
        std::list<resolve_job> gone; // destroyed after the unlock
        resolve_pool& pool = resolve_pool::get();
        std::lock_guard<std::mutex> lock(pool.mu);
        if (!queued_)
            return;
        gone.splice(gone.end(), pool.queue, slot_);
        queued_ = false;
        pool.publish_locked();
    }

    /// Enters this lookup in its registry: false when the context shut down already.
    bool register_pending(std::shared_ptr<resolve_op_base> self) {
        std::lock_guard<std::mutex> lock(reg_->mu);
        if (reg_->dead)
            return false;
        where_ = reg_->pending.insert(reg_->pending.end(), std::move(self));
        registered_ = true;
        return true;
    }

    /// Destroys the handler and the executors without calling it: the context shut down
    /// (called on the shutting-down thread, never under the registry's mutex: a handler's
    /// destructor may abort other lookups).
    virtual void destroy_handler() noexcept = 0;

protected:
    /// Posts the handler with `o` and drops everything of the context it holds; called
    /// once, under the registry's mutex, while the context is alive.
    virtual void post_locked(resolve_outcome&& o) = 0;

private:
    std::shared_ptr<resolve_registry> reg_;
    // Guarded by reg_->mu.
    bool done_ = false;
    bool registered_ = false;
    std::list<std::shared_ptr<resolve_op_base>>::iterator where_;
    // Guarded by resolve_pool::mu.
    bool queued_ = false;
    std::list<resolve_job>::iterator slot_;
};

/// One execution context's share of the lookups: destroys the handlers of the lookups still
/// pending when the context shuts down, on the thread that shuts it down (an awaitable
/// handler owns coroutine frames, and their sockets, of that context), and marks the
/// registry dead so that their threads drop their answers.
class resolve_service final : public asio::execution_context::service {
public:
    inline static asio::execution_context::id id;

    explicit resolve_service(asio::execution_context& ctx)
        : asio::execution_context::service(ctx), reg_(std::make_shared<resolve_registry>()) {}

    const std::shared_ptr<resolve_registry>& registry() const noexcept { return reg_; }

private:
    void shutdown() override {
        std::list<std::shared_ptr<resolve_op_base>> ops;
        {
            std::lock_guard<std::mutex> lock(reg_->mu);
            reg_->dead = true;
            ops.swap(reg_->pending);
        }
        // No one else touches a lookup's handler once `dead` is set.
        for (auto& op : ops) {
            op->destroy_handler();
            op->leave_queue();
        }
    }

    std::shared_ptr<resolve_registry> reg_;
};

/// Ends a lookup when the handler's cancellation slot is emitted (any cancellation type).
struct resolve_cancel {
    std::weak_ptr<resolve_op_base> op;
    void operator()(asio::cancellation_type type) const {
        if (type == asio::cancellation_type::none)
            return;
        if (auto p = op.lock())
            p->abort();
    }
};

/// A lookup and its handler: `void(std::error_code, std::vector<asio::ip::tcp::endpoint>)`.
/// Until it completes it keeps the I/O executor's and the handler executor's contexts from
/// running out of work; everything of the context (handler, executors, work) is dropped at
/// completion or at the context's shutdown, so the shell that a lookup thread may destroy
/// later holds nothing of the context.
template <class Handler>
class resolve_op final : public resolve_op_base {
public:
    using handler_executor = asio::associated_executor_t<Handler, asio::any_io_executor>;

    resolve_op(std::shared_ptr<resolve_registry> reg, const asio::any_io_executor& io_ex,
               Handler&& h)
        : resolve_op_base(std::move(reg)), io_work_(std::in_place, io_ex),
          handler_work_(std::in_place, asio::get_associated_executor(h, io_ex)),
          handler_(std::move(h)) {}

    /// Connects the handler's cancellation slot, when it has one, to abort().
    void connect_cancellation(const std::shared_ptr<resolve_op>& self) {
        auto slot = asio::get_associated_cancellation_slot(*handler_);
        if (slot.is_connected())
            slot.template emplace<resolve_cancel>(std::weak_ptr<resolve_op_base>(self));
    }

    void destroy_handler() noexcept override {
        if (handler_) {
            asio::get_associated_cancellation_slot(*handler_).clear();
            handler_.reset();
        }
        handler_work_.reset();
        io_work_.reset();
    }

private:
    /// Runs on the handler's executor: the slot is cleared before the handler is called.
    struct completion {
        Handler handler;
        resolve_outcome outcome;
        void operator()() {
            asio::get_associated_cancellation_slot(handler).clear();
            const std::error_code ec = outcome.error();
            std::move(handler)(ec, std::move(outcome.endpoints));
        }
    };

    void post_locked(resolve_outcome&& o) override {
        // The posted handler counts as work before the lookup's own work ends.
        asio::post(handler_work_->get_executor(), completion{std::move(*handler_), std::move(o)});
        handler_.reset();
        handler_work_.reset();
        io_work_.reset();
    }

    std::optional<asio::executor_work_guard<asio::any_io_executor>> io_work_;
    std::optional<asio::executor_work_guard<handler_executor>> handler_work_;
    std::optional<Handler> handler_;
};

/// Runs one lookup on the calling thread: getaddrinfo(), then the answer to the lookup
/// (dropped if the lookup completed or its context shut down meanwhile). Skips
/// getaddrinfo() for a lookup that completed while it waited in the queue.
inline void run_lookup(const resolve_job& job) noexcept {
    bool wanted = true;
    try {
        wanted = !job.op->settled();
    } catch (...) { // std::system_error from the mutex: look it up anyway
    }
    if (!wanted)
        return;
    resolve_outcome out;
    try {
        out = lookup_endpoints(job.host, job.port, 0, job.fn);
    } catch (...) { // std::bad_alloc while copying the list
        out = resolve_outcome{};
        out.gai = EAI_MEMORY;
    }
    try {
        job.op->complete(std::move(out));
    } catch (...) { // std::bad_alloc from post(): the handler is lost, as in Asio
    }
}

/// The body of a lookup thread: its first lookup, then the queued ones while the thread is
/// within the bound (the last thread alive serves the queue whatever the bound). Touches
/// only what it co-owns and the never-destroyed pool.
inline void resolve_worker(resolve_job job) noexcept {
    resolve_pool& pool = resolve_pool::get();
    for (;;) {
        run_lookup(job);
        job = resolve_job{};
        std::lock_guard<std::mutex> lock(pool.mu);
        const std::size_t max = resolve_threads_max_.load(std::memory_order_relaxed);
        if (pool.queue.empty() || (pool.threads > max && pool.threads > 1)) {
            --pool.threads;
            pool.publish_locked();
            return;
        }
        job = resolve_op_base::dequeue_locked(pool);
    }
}

/// Starts resolving `host` and `port` (a number or a service name) to TCP endpoints.
///
/// `h` is an Asio completion handler `void(std::error_code, std::vector<asio::ip::tcp::
/// endpoint>)`; it is called exactly once, always through asio::post() to its associated
/// executor (default `ex`, which should belong to the same execution context), never inside
/// start_resolve(), abort() or a cancellation signal, with its cancellation slot cleared
/// first:
/// - on the answer: the IPv4 and IPv6 endpoints in getaddrinfo()'s order, or an error as
///   asio::ip::tcp::resolver reports it (host_not_found, host_not_found_try_again, ...);
/// - on abort() of the returned object, or on any cancellation of the handler's connected
///   slot: asio::error::operation_aborted (the lookup thread's late answer is dropped);
/// - when no lookup thread is alive and none can be started (the system refused one, or
///   set_max_resolve_threads(0)): asio::error::try_again, at once.
///
/// An IP literal with a numeric port is converted on the calling thread, without a thread.
/// A name is looked up with getaddrinfo() on a detached thread (every signal blocked), a new
/// one while fewer than `default_max_resolve_threads` (set_max_resolve_threads()) are
/// alive, so that lookups never wait for one another; beyond that bound a lookup waits in a
/// process-wide queue for the first thread that finishes (and leaves the queue when it is
/// aborted or cancelled). Until the handler is called the operation counts as
/// work of `ex`'s and the handler executor's contexts; after it, io_context::run() can return while
/// getaddrinfo() still runs. If `ex`'s context shuts down (is destroyed) first, the handler
/// is destroyed uncalled on the thread that shuts it down, and the late answer touches
/// nothing of the context.
///
/// Throws (std::bad_alloc, or what moving the handler throws) only before anything started.
template <class Handler>
std::shared_ptr<pending_resolve> start_resolve(const asio::any_io_executor& ex, std::string host,
                                               std::string port, Handler&& h) {
    using handler_type = std::decay_t<Handler>;
    using op_type = resolve_op<handler_type>;
    // An IP literal (with a numeric port) is converted here: no name service is asked.
    resolve_outcome literal =
        lookup_endpoints(host, port, AI_NUMERICHOST | AI_NUMERICSERV, &::getaddrinfo);
    auto& svc = asio::use_service<resolve_service>(asio::query(ex, asio::execution::context));
    handler_type handler(std::forward<Handler>(h));
    auto op = std::make_shared<op_type>(svc.registry(), ex, std::move(handler));
    getaddrinfo_fn fn = resolve_getaddrinfo.load(std::memory_order_acquire);
    if (!fn)
        fn = &::getaddrinfo;
    // The job's list node is made here, so that queueing it later cannot fail.
    std::list<resolve_job> node;
    node.push_back(resolve_job{op, std::move(host), std::move(port), fn});
    op->connect_cancellation(op);
    if (!op->register_pending(op)) {
        op->destroy_handler(); // the context is shutting down
        return op;
    }
    if (literal.gai != EAI_NONAME) {
        op->complete(std::move(literal));
        return op;
    }
    const resolve_outcome busy{resolve_outcome::kind::busy, 0, 0, {}};
    resolve_pool& pool = resolve_pool::get();
    bool own_thread = false;
    {
        std::lock_guard<std::mutex> lock(pool.mu);
        const std::size_t max = resolve_threads_max_.load(std::memory_order_relaxed);
        if (max != 0 && pool.threads >= max) {
            resolve_op_base::enqueue_locked(pool, node);
            return op;
        }
        if (max != 0) {
            ++pool.threads;
            pool.publish_locked();
            own_thread = true;
        }
    }
    if (own_thread) {
        try {
            resolve_signal_blocker no_signals;
            std::thread([job = node.front()]() mutable noexcept {
                resolve_worker(std::move(job));
            }).detach();
            return op;
        } catch (...) { // no thread (std::system_error with EAGAIN, std::bad_alloc)
        }
        // The lookup waits for a thread already alive, if there is one.
        std::lock_guard<std::mutex> lock(pool.mu);
        --pool.threads;
        pool.publish_locked();
        if (pool.threads > 0) {
            resolve_op_base::enqueue_locked(pool, node);
            return op;
        }
    }
    op->complete(resolve_outcome(busy));
    return op;
}

/// start_resolve() as an Asio asynchronous operation with any completion token (for callers
/// that do not need abort(); cancellation goes through the token's cancellation slot).
template <class Token>
auto async_resolve_endpoints(const asio::any_io_executor& ex, std::string host, std::string port,
                             Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::vector<asio::ip::tcp::endpoint>)>(
        [ex](auto handler, std::string host, std::string port) {
            start_resolve(ex, std::move(host), std::move(port), std::move(handler));
        },
        token, std::move(host), std::move(port));
}

} // namespace oidc::http::detail
