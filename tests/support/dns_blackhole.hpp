// A DNS server that never answers, for the [slow-dns] tests. The http-dns stage of
// scripts/stages/20-http.sh runs them in private mount and network namespaces whose
// /etc/resolv.conf names only 127.0.0.1 ("options timeout:2 attempts:1": getaddrinfo then
// takes about 2 s) and whose /etc/hosts names fast.slow-dns.test (127.0.0.1).
#pragma once

#include <oidc/detail/config.hpp>

#include "catch.hpp"

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <system_error>
#include <thread>

namespace oidc_test {

/// Receives (and never answers) the DNS queries sent to 127.0.0.1:53, on a thread of its
/// own; counts them, so that a test knows the resolver really asked.
class dns_blackhole {
public:
    dns_blackhole() {
        REQUIRE(std::getenv("OIDC_TEST_DNS_BLACKHOLE") != nullptr);
        sock_.open(asio::ip::udp::v4());
        sock_.bind({asio::ip::make_address("127.0.0.1"), 53});
        receive();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~dns_blackhole() {
        ioc_.stop();
        thread_.join();
    }
    int queries() const { return queries_.load(); }

private:
    void receive() {
        sock_.async_receive_from(asio::buffer(buf_), from_,
                                 [this](std::error_code ec, std::size_t) {
                                     if (ec)
                                         return;
                                     ++queries_;
                                     receive();
                                 });
    }

    asio::io_context ioc_;
    asio::ip::udp::socket sock_{ioc_};
    asio::ip::udp::endpoint from_;
    char buf_[1500];
    std::atomic<int> queries_{0};
    std::thread thread_;
};

} // namespace oidc_test
