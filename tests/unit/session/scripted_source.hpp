// A token source for the session tests: counts fetches, records what was asked, answers
// from a script (or with fresh numbered tokens), after a delay or when the test says so,
// and honours cancellation.
#pragma once

#include <oidc/session.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace oidc_test {

struct outcome {
    std::error_code ec;
    oidc::token_set tokens;
    oidc::diagnostics diag;
};

inline oidc::token_set make_tokens(std::string at, std::string rt, std::chrono::milliseconds ttl,
                                   std::chrono::milliseconds refresh_ttl = {}) {
    oidc::token_set t;
    t.access_token = std::move(at);
    t.token_type = "Bearer";
    t.refresh_token = std::move(rt);
    t.received_at = oidc::clock::now();
    t.expires_at = t.received_at + ttl;
    if (refresh_ttl.count() != 0)
        t.refresh_expires_at = t.received_at + refresh_ttl;
    return t;
}

inline outcome fail_with(oidc::errc e, int status = 400) {
    outcome o;
    o.ec = e;
    o.diag.http_status = status;
    o.diag.error = std::string(oidc::error_name(make_error_code(e)));
    o.diag.error_description = "scripted";
    return o;
}

class scripted_source {
public:
    struct pending {
        std::function<void(std::error_code, oidc::token_set, oidc::diagnostics)> fn;
        asio::any_io_executor ex;
        std::mutex mu;
    };
    struct state {
        asio::any_io_executor ex;
        std::mutex mu;
        bool needs_user = false;
        bool manual = false;                ///< hold completions until release()
        std::chrono::milliseconds delay{0}; ///< else answer after this delay
        std::chrono::milliseconds ttl{3600000};
        std::chrono::milliseconds refresh_ttl{0};
        bool rotate = true; ///< refresh answers carry a new refresh token
        std::deque<outcome> script;
        int fetches = 0;
        std::vector<oidc::fetch_kind> kinds;
        std::vector<std::string> refresh_tokens_used;
        int counter = 0;
        std::vector<std::function<void()>> held;
    };

    explicit scripted_source(asio::any_io_executor ex) : st_(std::make_shared<state>()) {
        st_->ex = std::move(ex);
    }

    asio::any_io_executor get_executor() const { return st_->ex; }
    bool needs_user() const { return st_->needs_user; }
    const std::shared_ptr<state>& st() const { return st_; }

    template <class Handler>
    void async_fetch(oidc::fetch_kind kind, const oidc::token_set& current, Handler&& h) {
        auto op = std::make_shared<pending>();
        op->ex = asio::get_associated_executor(h, st_->ex);
        auto slot = asio::get_associated_cancellation_slot(h);
        op->fn = std::forward<Handler>(h);
        outcome o;
        {
            std::lock_guard<std::mutex> lock(st_->mu);
            ++st_->fetches;
            st_->kinds.push_back(kind);
            if (kind == oidc::fetch_kind::refresh)
                st_->refresh_tokens_used.push_back(current.refresh_token);
            if (!st_->script.empty()) {
                o = std::move(st_->script.front());
                st_->script.pop_front();
            } else {
                int n = ++st_->counter;
                bool new_rt = kind == oidc::fetch_kind::grant || st_->rotate;
                o.tokens = make_tokens("at-" + std::to_string(n),
                                       new_rt ? "rt-" + std::to_string(n) : std::string(), st_->ttl,
                                       st_->refresh_ttl);
            }
        }
        if (slot.is_connected())
            slot.assign([w = std::weak_ptr<pending>(op)](asio::cancellation_type_t) {
                if (auto op = w.lock())
                    finish(op, outcome{asio::error::operation_aborted, {}, {}});
            });
        std::lock_guard<std::mutex> lock(st_->mu);
        if (st_->manual) {
            st_->held.push_back([op, o] { finish(op, o); });
        } else if (st_->delay.count() > 0) {
            auto t = std::make_shared<asio::steady_timer>(st_->ex, st_->delay);
            t->async_wait([op, o, t](std::error_code) { finish(op, o); });
        } else {
            asio::post(st_->ex, [op, o] { finish(op, o); });
        }
    }

    /// Completes every held fetch (manual mode).
    void release() {
        std::vector<std::function<void()>> v;
        {
            std::lock_guard<std::mutex> lock(st_->mu);
            v.swap(st_->held);
        }
        for (auto& f : v)
            f();
    }

    int fetches() const {
        std::lock_guard<std::mutex> lock(st_->mu);
        return st_->fetches;
    }

private:
    static void finish(const std::shared_ptr<pending>& op, outcome o) {
        std::function<void(std::error_code, oidc::token_set, oidc::diagnostics)> f;
        {
            std::lock_guard<std::mutex> lock(op->mu);
            f.swap(op->fn);
        }
        if (!f)
            return;
        asio::post(op->ex, [f = std::move(f), o = std::move(o)]() mutable {
            f(o.ec, std::move(o.tokens), std::move(o.diag));
        });
    }

    std::shared_ptr<state> st_;
};

using test_session = oidc::basic_session<scripted_source>;

} // namespace oidc_test
