// asio-oidc: HTTP/1.1 request serialization (RFC 9112 3). No I/O. Knows nothing of OAuth.
#pragma once

#include <oidc/error.hpp>
#include <oidc/http/message.hpp>
#include <oidc/http/parser.hpp>

#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace oidc::http {

namespace detail {
/// A request-target or Host value: visible ASCII only (no space, control or non-ASCII byte).
inline bool is_visible_ascii(std::string_view s) noexcept {
    for (char c : s) {
        auto b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b >= 0x7f)
            return false;
    }
    return true;
}
} // namespace detail

/// Appends the request line, the headers and the body of `req` to `out`.
///
/// `request_target` is the request-target (origin-form "/path?q", or authority-form
/// "host:port" for CONNECT); `req.target` is not used. `Host: host_header` is added first
/// unless the caller set Host. `Content-Length` is added when the body is non-empty or the
/// method is POST, PUT or PATCH, unless the caller set it.
///
/// Errors (and `out` is then left as it was):
/// - errc::url_invalid: an empty request-target, or one with a space, a control or a
///   non-ASCII byte;
/// - errc::http_header_invalid: a header name that is not a token, a value or Host with
///   CR, LF, NUL or another control byte (header injection is impossible), or a
///   Transfer-Encoding header (bodies are always sent with Content-Length);
/// - errc::http_content_length_invalid: a caller's Content-Length that differs from the
///   body size, or several.
inline std::error_code serialize_request(const request& req, std::string_view request_target,
                                         std::string_view host_header, std::string& out) {
    if (request_target.empty() || !detail::is_visible_ascii(request_target))
        return errc::url_invalid;
    bool has_host = false;
    bool has_length = false;
    std::size_t size = 32 + request_target.size() + host_header.size() + req.body.size();
    for (const auto& f : req.headers) {
        if (!detail::is_token(f.name) || !detail::is_field_value(f.value))
            return errc::http_header_invalid;
        if (iequals(f.name, "host")) {
            has_host = true;
        } else if (iequals(f.name, "content-length")) {
            char buf[24];
            auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), req.body.size());
            (void)ec;
            if (has_length || std::string_view(buf, static_cast<std::size_t>(end - buf)) !=
                                  detail::trim_ows(f.value))
                return errc::http_content_length_invalid;
            has_length = true;
        } else if (iequals(f.name, "transfer-encoding")) {
            return errc::http_header_invalid;
        }
        size += f.name.size() + f.value.size() + 4;
    }
    if (!has_host && (host_header.empty() || !detail::is_visible_ascii(host_header)))
        return errc::http_header_invalid;

    out.reserve(out.size() + size);
    out += to_string(req.method);
    out += ' ';
    out += request_target;
    out += " HTTP/1.1\r\n";
    if (!has_host) {
        out += "Host: ";
        out += host_header;
        out += "\r\n";
    }
    for (const auto& f : req.headers) {
        out += f.name;
        out += ": ";
        out += f.value;
        out += "\r\n";
    }
    if (!has_length && (!req.body.empty() || req.method == verb::post || req.method == verb::put ||
                        req.method == verb::patch)) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), req.body.size());
        (void)ec;
        out += "Content-Length: ";
        out.append(buf, static_cast<std::size_t>(end - buf));
        out += "\r\n";
    }
    out += "\r\n";
    out += req.body;
    return {};
}

} // namespace oidc::http
