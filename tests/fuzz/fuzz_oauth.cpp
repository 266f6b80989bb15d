// libFuzzer: the parsers of what a provider or a browser sends back - discovery metadata, token,
// device authorization and pushed authorization responses, OAuth error bodies and the
// redirect callback. The first byte picks the parser and the HTTP status, the rest is the
// body. Whatever they accept must hold what the client relies on; the diagnostics they fill
// from the server's words must be bounded and free of control characters.
#include <oidc/authorization.hpp>
#include <oidc/discovery.hpp>
#include <oidc/grants.hpp>
#include <oidc/token.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void require(bool ok) {
    if (!ok)
        std::abort();
}

bool printable(const std::string& s, std::size_t max) {
    if (s.size() > max)
        return false;
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return false;
    return true;
}

void check_diag(const oidc::diagnostics& d) {
    require(printable(d.error, 128));
    require(printable(d.error_description, 512));
    require(printable(d.error_uri, 512));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1)
        return 0;
    const unsigned selector = data[0];
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    constexpr int statuses[] = {200, 201, 400, 401};
    const int status = statuses[(selector >> 4) & 3];
    const auto now = oidc::clock::time_point(std::chrono::seconds(1'700'000'000));
    oidc::diagnostics d;
    switch (selector % 6) {
    case 0: {
        oidc::provider_metadata m;
        if (!oidc::parse_provider_metadata(body, "https://op.example", m))
            require(m.issuer == "https://op.example");
        break;
    }
    case 1: {
        oidc::token_set t;
        if (!oidc::parse_token_response(body, status, now, t, d)) {
            require(status == 200 && !t.access_token.empty() && !t.token_type.empty());
            require(!t.expires_at || *t.expires_at >= now);
        }
        check_diag(d);
        break;
    }
    case 2: {
        oidc::device_authorization a;
        if (!oidc::parse_device_authorization(body, status, now, a, d)) {
            require(!a.device_code.empty() && !a.user_code.empty() && !a.verification_uri.empty());
            require(a.expires_at > now && a.interval >= std::chrono::seconds(1));
        }
        check_diag(d);
        break;
    }
    case 3: {
        std::string uri;
        oidc::clock::time_point exp;
        if (!oidc::parse_pushed_authorization_response(body, status, now, uri, exp, d))
            require(!uri.empty() && exp > now);
        check_diag(d);
        break;
    }
    case 4: {
        oidc::callback_result cb;
        if (!oidc::parse_callback(body, "st4te", "https://op.example", cb, d))
            require(cb.state == "st4te" && !cb.code.empty() &&
                    (cb.iss.empty() || cb.iss == "https://op.example"));
        check_diag(d);
        break;
    }
    default: {
        const std::error_code ec = oidc::detail::read_oauth_error(body, status, d);
        require(static_cast<bool>(ec));
        check_diag(d);
        break;
    }
    }
    return 0;
}
