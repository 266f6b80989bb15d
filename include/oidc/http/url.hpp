// asio-oidc: http(s) URL parsing, percent and form encoding (RFC 3986, WHATWG
// application/x-www-form-urlencoded). No I/O. Knows nothing of OAuth.
#pragma once

#include <oidc/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace oidc::http {

namespace detail {

inline constexpr char hex_upper[] = "0123456789ABCDEF";

constexpr bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
constexpr char to_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
/// RFC 3986 2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~"
constexpr bool is_unreserved(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
/// RFC 3986 2.2 sub-delims
constexpr bool is_sub_delim(char c) noexcept {
    switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
        return true;
    default:
        return false;
    }
}
/// pchar without pct-encoded (checked separately): unreserved / sub-delims / ":" / "@"
constexpr bool is_pchar(char c) noexcept {
    return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@';
}

/// Path, query or fragment characters with valid %XX escapes. `extra` are the characters
/// allowed besides pchar ("/" for a path, "/?" for a query or fragment).
inline bool valid_component(std::string_view s, std::string_view extra) noexcept {
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
                return false;
            i += 2;
        } else if (!is_pchar(c) && extra.find(c) == std::string_view::npos) {
            return false;
        }
    }
    return true;
}

/// Dotted-decimal IPv4 (exactly four parts, no leading zeros, each <= 255).
inline bool parse_ipv4(std::string_view s, std::array<std::uint8_t, 4>& out) noexcept {
    std::size_t i = 0;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= s.size() || s[i] != '.')
                return false;
            ++i;
        }
        std::size_t start = i;
        unsigned v = 0;
        while (i < s.size() && is_digit(s[i]) && i - start < 3) {
            v = v * 10 + static_cast<unsigned>(s[i] - '0');
            ++i;
        }
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return false;
        out[static_cast<std::size_t>(part)] = static_cast<std::uint8_t>(v);
    }
    return i == s.size();
}

/// Whether the last label of `host` (one trailing dot ignored) is a number: decimal
/// digits, or "0x"/"0X" and hex digits (WHATWG URL "ends in a number"). Such a host is
/// an IPv4 address to getaddrinfo (inet_aton forms), never a DNS name.
inline bool ends_in_number(std::string_view host) noexcept {
    if (!host.empty() && host.back() == '.')
        host.remove_suffix(1);
    const std::size_t dot = host.rfind('.');
    std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
    if (last.empty())
        return false;
    if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
        for (char c : last.substr(2))
            if (hex_value(c) < 0)
                return false;
        return true;
    }
    for (char c : last)
        if (!is_digit(c))
            return false;
    return true;
}

/// RFC 4291 2.2 text form (with "::" and an IPv4 tail); no zone identifier.
inline bool parse_ipv6(std::string_view s, std::array<std::uint8_t, 16>& out) noexcept {
    std::array<std::uint16_t, 8> g{};
    int n = 0;
    int gap = -1;
    std::size_t i = 0;
    if (s.size() < 2)
        return false;
    if (s[0] == ':') {
        if (s[1] != ':')
            return false;
        gap = 0;
        i = 2;
    }
    while (i < s.size()) {
        if (n == 8)
            return false;
        std::size_t j = i;
        unsigned v = 0;
        while (j < s.size() && j - i < 5 && hex_value(s[j]) >= 0) {
            v = v * 16 + static_cast<unsigned>(hex_value(s[j]));
            ++j;
        }
        if (j < s.size() && s[j] == '.') {
            std::array<std::uint8_t, 4> v4{};
            if (n > 6 || !parse_ipv4(s.substr(i), v4))
                return false;
            g[static_cast<std::size_t>(n++)] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
            g[static_cast<std::size_t>(n++)] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
            i = s.size();
            break;
        }
        if (j == i || j - i > 4)
            return false;
        g[static_cast<std::size_t>(n++)] = static_cast<std::uint16_t>(v);
        i = j;
        if (i == s.size())
            break;
        if (s[i] != ':')
            return false;
        ++i;
        if (i < s.size() && s[i] == ':') {
            if (gap >= 0)
                return false;
            gap = n;
            ++i;
        } else if (i == s.size()) {
            return false; // a trailing single ':'
        }
    }
    if (gap < 0) {
        if (n != 8)
            return false;
    } else {
        if (n > 7)
            return false; // "::" stands for at least one zero group
        int tail = n - gap;
        for (int k = 0; k < tail; ++k) {
            g[static_cast<std::size_t>(7 - k)] = g[static_cast<std::size_t>(n - 1 - k)];
        }
        for (int k = gap; k < 8 - tail; ++k)
            g[static_cast<std::size_t>(k)] = 0;
    }
    for (std::size_t k = 0; k < 8; ++k) {
        out[2 * k] = static_cast<std::uint8_t>(g[k] >> 8);
        out[2 * k + 1] = static_cast<std::uint8_t>(g[k] & 0xff);
    }
    return true;
}

inline std::uint16_t default_port(std::string_view scheme) noexcept {
    return scheme == "https" ? 443 : 80;
}

} // namespace detail

/// An absolute http or https URL, split and normalized (scheme and host lower-cased).
///
/// The fragment ("#...") of the input is validated and then dropped: it never reaches the
/// server (RFC 9110 7.1), so it is neither in target() nor in str().
struct url {
    std::string scheme;     ///< "http" or "https", lower-cased
    std::string host;       ///< lower-cased; IPv6 literal WITHOUT brackets ("::1")
    std::uint16_t port = 0; ///< explicit or the scheme default (80/443)
    std::string path;       ///< "/" when empty; percent-encoding kept as given
    std::string query;      ///< without '?', may be empty

    /// The host is an IPv6 literal.
    bool ipv6_literal() const { return host.find(':') != std::string::npos; }
    /// The origin-form request-target: path + ("?" + query if non-empty).
    std::string target() const {
        std::string t;
        append_target(t);
        return t;
    }
    /// Appends target() to `out`.
    void append_target(std::string& out) const {
        if (path.empty())
            out += '/';
        else
            out += path;
        if (!query.empty()) {
            out += '?';
            out += query;
        }
    }
    bool default_port() const { return port == detail::default_port(scheme); }
    /// The Host header value: "host", "host:port" when the port is not the default,
    /// IPv6 literals in brackets ("[::1]:8443").
    std::string host_header() const {
        std::string h;
        h.reserve(host.size() + 8);
        append_host_header(h);
        return h;
    }
    /// Appends host_header() to `out`.
    void append_host_header(std::string& out) const {
        if (ipv6_literal()) {
            out += '[';
            out += host;
            out += ']';
        } else {
            out += host;
        }
        if (!default_port()) {
            out += ':';
            append_port(out);
        }
    }
    /// "scheme://host:port", always with the port: the connection pool key.
    std::string origin() const {
        std::string o;
        append_origin(o);
        return o;
    }
    /// Appends origin() to `out` (no allocation when `out` has the room).
    void append_origin(std::string& out) const {
        out += scheme;
        out += "://";
        if (ipv6_literal()) {
            out += '[';
            out += host;
            out += ']';
        } else {
            out += host;
        }
        out += ':';
        append_port(out);
    }
    /// Appends the port in decimal.
    void append_port(std::string& out) const {
        char digits[8];
        char* end = digits + sizeof digits;
        char* p = end;
        unsigned v = port;
        do {
            *--p = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0);
        out.append(p, static_cast<std::size_t>(end - p));
    }
    /// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) or "localhost".
    bool is_loopback() const {
        if (ipv6_literal()) {
            std::array<std::uint8_t, 16> a{};
            if (!detail::parse_ipv6(host, a))
                return false;
            static constexpr std::array<std::uint8_t, 16> one{0, 0, 0, 0, 0, 0, 0, 0,
                                                              0, 0, 0, 0, 0, 0, 0, 1};
            static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0,    0,
                                                                 0, 0, 0, 0, 0xff, 0xff};
            if (a == one)
                return true;
            for (std::size_t i = 0; i < mapped.size(); ++i)
                if (a[i] != mapped[i])
                    return false;
            return a[12] == 127;
        }
        std::array<std::uint8_t, 4> v4{};
        if (detail::parse_ipv4(host, v4))
            return v4[0] == 127;
        return host == "localhost" || host == "localhost.";
    }
    /// The URL serialized back (default port omitted, no fragment).
    std::string str() const { return scheme + "://" + host_header() + target(); }

    friend bool operator==(const url&, const url&) = default;
};

/// Parses an absolute "http://" or "https://" URL (RFC 3986 3, case-insensitive scheme).
///
/// Refused with errc::url_invalid: other or missing schemes, userinfo ("user:pass@": it
/// would leak credentials into logs and Host headers), an empty host, a host that is not
/// an RFC 3986 reg-name made of unreserved characters, a host whose last label is a
/// number (decimal or 0x hex) that is not a dotted-decimal IPv4 address, an invalid or zoned IPv6
/// literal, ports that are empty, 0, above 65535 or not digits, spaces, control characters,
/// non-ASCII bytes, characters outside the RFC 3986 sets and malformed %XX escapes. A fragment is
/// validated and dropped. Percent-encoding in path and query is kept as given. On error `out` is
/// unchanged.
inline std::error_code parse_url(std::string_view in, url& out) {
    const std::error_code bad = errc::url_invalid;
    std::size_t p = in.find("://");
    if (p == std::string_view::npos)
        return bad;
    std::string scheme;
    for (char c : in.substr(0, p))
        scheme += detail::to_lower(c);
    if (scheme != "http" && scheme != "https")
        return bad;
    std::string_view rest = in.substr(p + 3);

    std::size_t auth_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, auth_end);
    std::string_view tail =
        auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    if (authority.find('@') != std::string_view::npos)
        return bad; // userinfo refused

    url u;
    u.scheme = std::move(scheme);
    std::string_view host;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority[0] == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return bad;
        host = authority.substr(1, close - 1);
        std::array<std::uint8_t, 16> a{};
        if (!detail::parse_ipv6(host, a))
            return bad;
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':')
                return bad;
            has_port = true;
            port_text = after.substr(1);
        }
    } else {
        std::size_t colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
        if (host.empty() || host.size() > 255)
            return bad;
        for (char c : host)
            if (!detail::is_unreserved(c))
                return bad;
        // An empty label ("a..b", ".a", "a..") names nothing; one trailing dot (a fully
        // qualified name, "idp.example.") is kept.
        std::string_view labels = host;
        if (labels.back() == '.')
            labels.remove_suffix(1);
        if (labels.empty() || labels.front() == '.' || labels.back() == '.' ||
            labels.find("..") != std::string_view::npos)
            return bad;
        // A host whose last label is a number (decimal, or hex with 0x) is an IPv4 address
        // (WHATWG URL "ends in a number"): getaddrinfo reads "0x7f.1", "2130706433" or
        // "0177.0.0.1" as 127.0.0.1. Only the canonical dotted-decimal form is taken; the
        // others would slip past loopback and no_proxy checks, so they are refused.
        std::array<std::uint8_t, 4> v4{};
        if (detail::ends_in_number(host) && !detail::parse_ipv4(host, v4))
            return bad; // "999.1.1.1", "1.2.3", "0127.0.0.1", "0x7f.1", "a.123": refused
    }
    u.host.reserve(host.size());
    for (char c : host)
        u.host += detail::to_lower(c);

    if (has_port) {
        if (port_text.empty() || port_text.size() > 5)
            return bad;
        unsigned v = 0;
        for (char c : port_text) {
            if (!detail::is_digit(c))
                return bad;
            v = v * 10 + static_cast<unsigned>(c - '0');
        }
        if (v == 0 || v > 65535)
            return bad;
        u.port = static_cast<std::uint16_t>(v);
    } else {
        u.port = detail::default_port(u.scheme);
    }

    std::string_view fragment;
    std::size_t hash = tail.find('#');
    if (hash != std::string_view::npos) {
        fragment = tail.substr(hash + 1);
        tail = tail.substr(0, hash);
    }
    std::size_t qm = tail.find('?');
    std::string_view path = tail.substr(0, qm);
    std::string_view query =
        qm == std::string_view::npos ? std::string_view{} : tail.substr(qm + 1);
    if (!detail::valid_component(path, "/") || !detail::valid_component(query, "/?") ||
        !detail::valid_component(fragment, "/?"))
        return bad;
    u.path = path.empty() ? std::string("/") : std::string(path);
    u.query = std::string(query);
    out = std::move(u);
    return {};
}

namespace detail {
inline void encode_into(std::string& out, std::string_view s, bool space_as_plus) {
    for (char c : s) {
        if (is_unreserved(c)) {
            out += c;
        } else if (c == ' ' && space_as_plus) {
            out += '+';
        } else {
            auto b = static_cast<unsigned char>(c);
            out += '%';
            out += hex_upper[b >> 4];
            out += hex_upper[b & 0x0f];
        }
    }
}
} // namespace detail

/// Percent-encodes every byte outside the RFC 3986 unreserved set (uppercase hex).
inline std::string percent_encode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    detail::encode_into(out, s, false);
    return out;
}

/// application/x-www-form-urlencoded encoding of one name or value: the unreserved set
/// is kept, space becomes '+', every other byte %XX. RFC 6749 2.3.1 also uses it for the
/// client id and secret before HTTP Basic authentication.
inline std::string form_encode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    detail::encode_into(out, s, true);
    return out;
}

/// Appends "name=value" (form-encoded), preceded by '&' when `body` is not empty.
inline void form_append(std::string& body, std::string_view name, std::string_view value) {
    if (!body.empty())
        body += '&';
    detail::encode_into(body, name, true);
    body += '=';
    detail::encode_into(body, value, true);
}

/// A form body "a=b&c=d" from name/value pairs, in order.
inline std::string
form_body(std::initializer_list<std::pair<std::string_view, std::string_view>> params) {
    std::string body;
    for (const auto& [name, value] : params)
        form_append(body, name, value);
    return body;
}

/// Decodes %XX escapes (and '+' as space when `plus_as_space`) into `out`, which is
/// replaced. Returns false on a malformed escape ("%", "%4", "%G0"); `out` is then
/// unspecified.
inline bool percent_decode(std::string_view in, std::string& out, bool plus_as_space) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size())
                return false;
            int hi = detail::hex_value(in[i + 1]);
            int lo = detail::hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return true;
}

/// Parses a query string or form body ("code=..&state=..", a leading '?' is skipped) into
/// decoded name/value pairs in order ('+' is a space). Empty segments ("a=1&&b=2") are
/// skipped; a segment without '=' has an empty value. A malformed %XX escape sets
/// errc::url_invalid and returns an empty vector. Repeated names are all kept.
inline std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query,
                                                                    std::error_code& ec) {
    ec.clear();
    std::vector<std::pair<std::string, std::string>> out;
    if (!query.empty() && query[0] == '?')
        query.remove_prefix(1);
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view seg = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (seg.empty())
            continue;
        std::size_t eq = seg.find('=');
        std::pair<std::string, std::string> kv;
        std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : seg.substr(eq + 1);
        if (!percent_decode(seg.substr(0, eq), kv.first, true) ||
            !percent_decode(value, kv.second, true)) {
            ec = errc::url_invalid;
            out.clear();
            return out;
        }
        out.push_back(std::move(kv));
    }
    return out;
}

} // namespace oidc::http
