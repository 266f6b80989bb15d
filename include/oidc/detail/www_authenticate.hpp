// asio-oidc: what a refusal says - the error of a WWW-Authenticate challenge (RFC 9110
// 11.6.1): a Bearer token rejected (RFC 6750 3), a DPoP token rejected or a DPoP nonce asked
// for (RFC 9449 7.1, 9), and an authorization server's use_dpop_nonce (RFC 9449 8). No I/O.
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/http/message.hpp>

#include <string>
#include <string_view>

namespace oidc::detail {

inline bool is_tchar(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// Does one WWW-Authenticate value hold a challenge of `scheme` with error=`error` (RFC 6750
/// 3, RFC 9449 7.1, RFC 9110 11.6.1)? Parses challenges and auth-params, quoted or not.
inline bool challenge_has_error(std::string_view v, std::string_view scheme,
                                std::string_view error) noexcept {
    std::size_t i = 0;
    auto skip_ws = [&] {
        while (i < v.size() && (v[i] == ' ' || v[i] == '\t'))
            ++i;
    };
    auto read_token = [&] {
        std::size_t b = i;
        while (i < v.size() && is_tchar(v[i]))
            ++i;
        return v.substr(b, i - b);
    };
    bool in_scheme = false;
    while (i < v.size()) {
        skip_ws();
        if (i < v.size() && v[i] == ',') {
            ++i;
            continue;
        }
        std::string_view name = read_token();
        if (name.empty())
            return false; // malformed: stop, never guess
        skip_ws();
        if (i < v.size() && v[i] == '=') {
            // auth-param: name = token / quoted-string
            ++i;
            skip_ws();
            std::string value;
            if (i < v.size() && v[i] == '"') {
                ++i;
                bool closed = false;
                while (i < v.size()) {
                    char c = v[i++];
                    if (c == '\\' && i < v.size()) {
                        value.push_back(v[i++]);
                    } else if (c == '"') {
                        closed = true;
                        break;
                    } else {
                        value.push_back(c);
                    }
                }
                if (!closed)
                    return false;
            } else {
                value = std::string(read_token());
            }
            if (in_scheme && http::iequals(name, "error") && value == error)
                return true;
            continue;
        }
        // A new challenge (auth-scheme), maybe followed by token68 or params.
        in_scheme = http::iequals(name, scheme);
    }
    return false;
}

/// A Bearer challenge with error="invalid_token" (RFC 6750 3).
inline bool challenge_says_invalid_token(std::string_view v) noexcept {
    return challenge_has_error(v, "Bearer", "invalid_token");
}

/// True when a 401 response says the access token was rejected (not "insufficient_scope",
/// not a challenge for another scheme): a Bearer challenge, or with `dpop` a DPoP one
/// (RFC 9449 7.1).
inline bool is_invalid_token_response(const http::response& r, bool dpop = false) {
    if (r.status != 401)
        return false;
    for (auto v : r.headers.get_all("WWW-Authenticate"))
        if (challenge_says_invalid_token(v) ||
            (dpop && challenge_has_error(v, "DPoP", "invalid_token")))
            return true;
    return false;
}

// Whether a response refused a request for want of the server's DPoP nonce (RFC 9449 8:
// a 400 "use_dpop_nonce" error from an authorization server, 9: a 401 DPoP challenge with
// that error from a resource server).
inline bool asks_dpop_nonce(const http::response& resp) {
    if (resp.status == 400) {
        json::value v;
        const std::string* e = nullptr;
        return !json::parse_object(resp.body, v) && (e = v.find_string("error")) &&
               *e == "use_dpop_nonce";
    }
    if (resp.status != 401)
        return false;
    for (auto challenge : resp.headers.get_all("WWW-Authenticate"))
        if (challenge_has_error(challenge, "DPoP", "use_dpop_nonce"))
            return true;
    return false;
}

} // namespace oidc::detail
