// asio-oidc: sans-io HTTP/1.1 response parser (RFC 9112). Bytes in, a response out.
// No I/O, no allocation per byte, no virtual calls. Knows nothing of OAuth.
#pragma once

#include <oidc/error.hpp>
#include <oidc/http/message.hpp>
#include <oidc/http/url.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <string_view>
#include <system_error>
#include <utility>

namespace oidc::http {

/// Size limits of one response. Exceeding one fails the parse with a clear error before
/// the memory is spent.
struct parser_limits {
    std::size_t max_header_bytes = 16 * 1024; ///< status line + all headers (also trailers)
    std::size_t max_header_count = 128;       ///< header fields of one response
    std::size_t max_body_bytes = 1024 * 1024; ///< token / JWKS responses are small
};

namespace detail {

/// RFC 9110 5.6.2 tchar.
struct http_char_tables {
    bool tchar[256] = {};
    bool field_char[256] = {}; ///< field-value bytes: HTAB, SP, VCHAR, obs-text
    constexpr http_char_tables() {
        for (int c = '0'; c <= '9'; ++c)
            tchar[c] = true;
        for (int c = 'a'; c <= 'z'; ++c)
            tchar[c] = true;
        for (int c = 'A'; c <= 'Z'; ++c)
            tchar[c] = true;
        for (char c : std::string_view("!#$%&'*+-.^_`|~"))
            tchar[static_cast<unsigned char>(c)] = true;
        field_char[static_cast<unsigned char>('\t')] = true;
        for (int c = 0x20; c < 0x7f; ++c)
            field_char[c] = true;
        for (int c = 0x80; c < 0x100; ++c)
            field_char[c] = true;
    }
};
inline constexpr http_char_tables http_chars{};

inline bool is_token(std::string_view s) noexcept {
    if (s.empty())
        return false;
    for (char c : s)
        if (!http_chars.tchar[static_cast<unsigned char>(c)])
            return false;
    return true;
}
/// Field-value bytes only (no CR, LF, NUL or other control but HTAB). Eight bytes at a
/// time: a word is checked byte by byte only when it may hold a byte below 0x20 or 0x7f.
inline bool is_field_value(std::string_view s) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ull;
    constexpr std::uint64_t highs = 0x8080808080808080ull;
    const char* p = s.data();
    std::size_t n = s.size();
#if defined(__SSE2__)
    // 64 bytes at a time (a bearer token is ~2 KB): a byte below 0x20 or DEL anywhere in
    // the block sends it to the exact check below, which allows HTAB (rare in values).
    const __m128i max_ctl = _mm_set1_epi8(0x1f);
    const __m128i del_byte = _mm_set1_epi8(0x7f);
    auto suspect = [&](const char* q) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        return _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, max_ctl), v), // v <= 0x1f
                            _mm_cmpeq_epi8(v, del_byte));
    };
    for (; n >= 64; p += 64, n -= 64) {
        __m128i any = _mm_or_si128(_mm_or_si128(suspect(p), suspect(p + 16)),
                                   _mm_or_si128(suspect(p + 32), suspect(p + 48)));
        if (_mm_movemask_epi8(any) != 0) {
            for (int i = 0; i < 64; ++i)
                if (!http_chars.field_char[static_cast<unsigned char>(p[i])])
                    return false;
        }
    }
    for (; n >= 16; p += 16, n -= 16) {
        if (_mm_movemask_epi8(suspect(p)) != 0) {
            for (int i = 0; i < 16; ++i)
                if (!http_chars.field_char[static_cast<unsigned char>(p[i])])
                    return false;
        }
    }
#endif
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        std::uint64_t below_space = (w - 0x20 * ones) & ~w & highs;
        std::uint64_t x = w ^ (0x7f * ones);
        std::uint64_t del = (x - ones) & ~x & highs;
        if ((below_space | del) != 0) {
            for (int i = 0; i < 8; ++i)
                if (!http_chars.field_char[static_cast<unsigned char>(p[i])])
                    return false;
        }
    }
    for (; n > 0; ++p, --n)
        if (!http_chars.field_char[static_cast<unsigned char>(*p)])
            return false;
    return true;
}
inline std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}
/// Calls f(element) for each non-empty, OWS-trimmed element of a comma-separated list
/// (RFC 9110 5.6.1); stops early when f returns false.
template <class F>
bool for_each_list_element(std::string_view v, F&& f) {
    while (true) {
        std::size_t comma = v.find(',');
        std::string_view e = trim_ows(v.substr(0, comma));
        if (!e.empty() && !f(e))
            return false;
        if (comma == std::string_view::npos)
            return true;
        v.remove_prefix(comma + 1);
    }
}

/// Longest chunk-size line accepted (size, extensions): extensions are skipped, but not
/// without bound.
inline constexpr std::size_t max_chunk_line = 4096;

} // namespace detail

/// An incremental HTTP/1.1 response parser (RFC 9112), strict by design: it reads what a
/// client library needs from a server and refuses what could be an attack or a framing
/// ambiguity.
///
/// - Status line `HTTP/1.x SP 3DIGIT [SP reason] CRLF`; HTTP/1.0 and 1.1 only (else
///   http_version_unsupported). A missing reason with its space ("HTTP/1.1 200") is
///   accepted; status codes are 100-599.
/// - Lines end with CRLF; a bare LF is refused (http_status_line_invalid,
///   http_header_invalid, http_chunk_invalid by position).
/// - Header names are tokens with no space before ':'; values are trimmed of OWS; obs-fold,
///   CR, NUL and other controls are refused (http_header_invalid).
/// - Content-Length: digits only, overflow-checked; repeated or listed values must agree
///   (http_content_length_invalid). Transfer-Encoding must be exactly "chunked" (any other
///   coding, "chunked" twice, or Transfer-Encoding in an HTTP/1.0 response:
///   http_header_invalid); both Transfer-Encoding and Content-Length: http_header_invalid
///   (request smuggling).
/// - Chunk sizes are hex, overflow-checked; extensions skipped (line at most 4 KiB);
///   trailers parsed, size-limited like headers, then dropped (http_chunk_invalid).
/// - 1xx interim responses are skipped (their bytes count towards max_header_bytes);
///   101 Switching Protocols is refused (http_status_line_invalid): no upgrade is asked.
/// - HEAD responses, 204 and 304 have no body; without length and chunked the body lasts
///   until the peer closes (feed_eof), and the connection is then not reusable.
/// - Limits: http_headers_too_large, http_body_too_large (Content-Length and chunk sizes
///   are checked up front).
///
/// Thread safety: none; one parser per connection.
class response_parser {
public:
    explicit response_parser(parser_limits limits = {}) : limits_(limits) {}

    /// Prepares for the next response with other limits.
    void reset(bool head_request, const parser_limits& limits) {
        limits_ = limits;
        reset(head_request);
    }

    /// Prepares for the next response. `head_request`: the request was HEAD (no body).
    void reset(bool head_request = false) {
        res_.status = 0;
        res_.version_minor = 1;
        res_.reason.clear();
        res_.headers.clear();
        res_.headers.reserve(12); // one allocation for a typical response's fields
        res_.body.clear();
        line_.clear();
        head_request_ = head_request;
        state_ = state::status_line;
        error_ = {};
        header_bytes_ = 0;
        trailer_bytes_ = 0;
        remaining_ = 0;
        received_ = 0;
        keep_alive_ = false;
        excess_ = false;
    }

    /// Consumes bytes of the response and returns how many were used. Fewer than
    /// `data.size()` only when the response ended (or on error): the rest belongs to no
    /// response, and keep_alive() is then false. Sets `ec` on the first error, after which
    /// the parser stays failed (returns 0 and the same error) until reset().
    std::size_t feed(std::string_view data, std::error_code& ec) {
        if (state_ == state::failed) {
            ec = error_;
            return 0;
        }
        ec.clear();
        if (state_ == state::done) {
            if (!data.empty())
                excess_ = true;
            return 0;
        }
        received_ += data.size();
        std::size_t pos = 0;
        const std::size_t n = data.size();
        while (pos < n) {
            switch (state_) {
            case state::status_line:
            case state::header_line:
            case state::chunk_size:
            case state::chunk_crlf:
            case state::trailer_line: {
                const char* base = data.data() + pos;
                const void* lf = std::memchr(base, '\n', n - pos);
                if (lf == nullptr) {
                    line_.append(base, n - pos);
                    pos = n;
                    check_partial_line();
                    break;
                }
                std::size_t len = static_cast<std::size_t>(static_cast<const char*>(lf) - base);
                std::string_view line;
                if (line_.empty()) {
                    line = std::string_view(base, len + 1);
                } else {
                    line_.append(base, len + 1);
                    line = line_;
                }
                pos += len + 1;
                on_line(line);
                line_.clear();
                break;
            }
            case state::body_length:
            case state::chunk_data: {
                std::size_t take = std::min<std::size_t>(remaining_, n - pos);
                res_.body.append(data.data() + pos, take);
                pos += take;
                remaining_ -= take;
                if (remaining_ == 0)
                    state_ = state_ == state::body_length ? state::done : state::chunk_crlf;
                break;
            }
            case state::body_close: {
                std::size_t take = n - pos;
                if (take > limits_.max_body_bytes - res_.body.size()) {
                    fail(errc::http_body_too_large);
                    break;
                }
                res_.body.append(data.data() + pos, take);
                pos = n;
                break;
            }
            case state::done:
            case state::failed:
                break;
            }
            if (state_ == state::done || state_ == state::failed)
                break;
        }
        if (state_ == state::failed) {
            ec = error_;
            return pos;
        }
        if (state_ == state::done && pos < n)
            excess_ = true;
        return pos;
    }

    /// The peer closed the connection: completes a body delimited by close, else sets
    /// errc::http_truncated (also when nothing or only part of the headers arrived).
    void feed_eof(std::error_code& ec) {
        if (state_ == state::failed) {
            ec = error_;
            return;
        }
        ec.clear();
        if (state_ == state::done)
            return;
        if (state_ == state::body_close) {
            state_ = state::done;
            return;
        }
        fail(errc::http_truncated);
        ec = error_;
    }

    /// A complete response is available.
    bool done() const noexcept { return state_ == state::done; }
    /// The status line and headers of the final response are complete.
    bool header_done() const noexcept {
        return state_ != state::status_line && state_ != state::header_line &&
               !(state_ == state::failed && !header_done_when_failed_);
    }
    /// The parser failed; error() says why.
    bool failed() const noexcept { return state_ == state::failed; }
    std::error_code error() const noexcept { return error_; }
    /// At least one byte of this response was fed (a pool uses it to tell a stale idle
    /// connection, closed before any byte, from a response cut short).
    bool started() const noexcept { return received_ != 0; }

    /// After done(): the connection may carry another request (HTTP/1.1 without
    /// "Connection: close", HTTP/1.0 only with "Connection: keep-alive", body not delimited
    /// by close, and no bytes beyond the end of the response were fed).
    bool keep_alive() const noexcept { return state_ == state::done && keep_alive_ && !excess_; }

    const response& get() const noexcept { return res_; }
    /// Moves the response out; call reset() before the next one.
    response release() { return std::move(res_); }

    const parser_limits& limits() const noexcept { return limits_; }

private:
    enum class state : std::uint8_t {
        status_line,
        header_line,
        body_length,
        body_close,
        chunk_size,
        chunk_data,
        chunk_crlf,
        trailer_line,
        done,
        failed,
    };

    void fail(errc e) {
        header_done_when_failed_ = header_done();
        error_ = e;
        state_ = state::failed;
    }

    errc line_error() const noexcept {
        switch (state_) {
        case state::status_line:
            return errc::http_status_line_invalid;
        case state::header_line:
            return errc::http_header_invalid;
        default:
            return errc::http_chunk_invalid;
        }
    }

    bool in_head() const noexcept {
        return state_ == state::status_line || state_ == state::header_line;
    }

    // A line without its LF yet: fail as soon as it cannot fit.
    void check_partial_line() {
        if (in_head()) {
            if (line_.size() > limits_.max_header_bytes - header_bytes_)
                fail(errc::http_headers_too_large);
        } else if (state_ == state::trailer_line) {
            if (line_.size() > limits_.max_header_bytes - trailer_bytes_)
                fail(errc::http_chunk_invalid);
        } else if (line_.size() > detail::max_chunk_line) {
            fail(errc::http_chunk_invalid);
        }
    }

    // `line` includes its LF.
    void on_line(std::string_view line) {
        if (in_head()) {
            if (line.size() > limits_.max_header_bytes - header_bytes_)
                return fail(errc::http_headers_too_large);
            header_bytes_ += line.size();
        } else if (state_ == state::trailer_line) {
            if (line.size() > limits_.max_header_bytes - trailer_bytes_)
                return fail(errc::http_chunk_invalid);
            trailer_bytes_ += line.size();
        } else if (line.size() > detail::max_chunk_line) {
            return fail(errc::http_chunk_invalid);
        }
        if (line.size() < 2 || line[line.size() - 2] != '\r')
            return fail(line_error()); // bare LF
        line.remove_suffix(2);
        switch (state_) {
        case state::status_line:
            return on_status_line(line);
        case state::header_line:
            if (line.empty())
                return on_head_end();
            return on_header_line(line);
        case state::chunk_size:
            return on_chunk_size(line);
        case state::chunk_crlf:
            if (!line.empty())
                return fail(errc::http_chunk_invalid);
            state_ = state::chunk_size;
            return;
        case state::trailer_line:
            if (line.empty()) {
                state_ = state::done;
                return;
            }
            if (!valid_header_line(line))
                return fail(errc::http_chunk_invalid);
            if (++trailer_count_ > limits_.max_header_count)
                return fail(errc::http_chunk_invalid);
            return; // trailers are dropped
        default:
            return;
        }
    }

    void on_status_line(std::string_view l) {
        // HTTP/1.1 200 OK
        if (l.size() < 12 || l.substr(0, 5) != "HTTP/" || l[6] != '.' || l[8] != ' ')
            return fail(errc::http_status_line_invalid);
        char major = l[5];
        char minor = l[7];
        if (!detail::is_digit(major) || !detail::is_digit(minor))
            return fail(errc::http_status_line_invalid);
        if (major != '1' || (minor != '0' && minor != '1'))
            return fail(errc::http_version_unsupported);
        if (!detail::is_digit(l[9]) || !detail::is_digit(l[10]) || !detail::is_digit(l[11]))
            return fail(errc::http_status_line_invalid);
        int status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
        if (status < 100 || status > 599 || status == 101)
            return fail(errc::http_status_line_invalid);
        std::string_view reason;
        if (l.size() > 12) {
            if (l[12] != ' ')
                return fail(errc::http_status_line_invalid);
            reason = l.substr(13);
            if (!detail::is_field_value(reason))
                return fail(errc::http_status_line_invalid);
        }
        res_.status = status;
        res_.version_minor = minor - '0';
        res_.reason.assign(reason);
        res_.headers.clear();
        header_count_ = 0;
        state_ = state::header_line;
    }

    static bool split_header(std::string_view line, std::string_view& name,
                             std::string_view& value) noexcept {
        // One pass over the name: tchar bytes up to the colon.
        std::size_t i = 0;
        while (i < line.size() && detail::http_chars.tchar[static_cast<unsigned char>(line[i])])
            ++i;
        if (i == 0 || i == line.size() || line[i] != ':')
            return false;
        name = line.substr(0, i);
        value = detail::trim_ows(line.substr(i + 1));
        return detail::is_field_value(value);
    }
    static bool valid_header_line(std::string_view line) noexcept {
        std::string_view name, value;
        return split_header(line, name, value);
    }

    void on_header_line(std::string_view line) {
        std::string_view name, value;
        // obs-fold (a line starting with SP/HTAB) fails is_token on the name.
        if (!split_header(line, name, value))
            return fail(errc::http_header_invalid);
        if (++header_count_ > limits_.max_header_count)
            return fail(errc::http_headers_too_large);
        res_.headers.add(name, value);
    }

    // The empty line after the headers: decide the framing.
    void on_head_end() {
        if (res_.status < 200) { // 1xx interim: skipped, the final response follows
            state_ = state::status_line;
            return;
        }
        bool chunked = false;
        bool has_te = false;
        bool has_length = false;
        std::uint64_t length = 0;
        bool close = false;
        bool keep_alive_token = false;
        for (const auto& f : res_.headers) {
            if (iequals(f.name, "content-length")) {
                std::size_t elements = 0;
                bool ok = detail::for_each_list_element(f.value, [&](std::string_view e) {
                    ++elements;
                    std::uint64_t v = 0;
                    for (char c : e) {
                        if (!detail::is_digit(c))
                            return false;
                        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
                        if (v > (UINT64_MAX - d) / 10)
                            return false;
                        v = v * 10 + d;
                    }
                    if (has_length && v != length)
                        return false;
                    has_length = true;
                    length = v;
                    return true;
                });
                if (!ok || elements == 0)
                    return fail(errc::http_content_length_invalid);
            } else if (iequals(f.name, "transfer-encoding")) {
                has_te = true;
                bool ok = detail::for_each_list_element(f.value, [&](std::string_view e) {
                    if (chunked || !iequals(e, "chunked"))
                        return false; // other codings, or chunked applied twice
                    chunked = true;
                    return true;
                });
                if (!ok)
                    return fail(errc::http_header_invalid);
            } else if (iequals(f.name, "connection")) {
                detail::for_each_list_element(f.value, [&](std::string_view e) {
                    if (iequals(e, "close"))
                        close = true;
                    else if (iequals(e, "keep-alive"))
                        keep_alive_token = true;
                    return true;
                });
            }
        }
        if (has_te && (!chunked || has_length || res_.version_minor == 0))
            return fail(errc::http_header_invalid);
        keep_alive_ = res_.version_minor == 1 ? !close : (keep_alive_token && !close);

        if (head_request_ || res_.status == 204 || res_.status == 304) {
            state_ = state::done;
            return;
        }
        if (chunked) {
            trailer_count_ = 0;
            state_ = state::chunk_size;
            return;
        }
        if (has_length) {
            if (length > limits_.max_body_bytes)
                return fail(errc::http_body_too_large);
            remaining_ = static_cast<std::size_t>(length);
            res_.body.reserve(remaining_);
            state_ = remaining_ == 0 ? state::done : state::body_length;
            return;
        }
        keep_alive_ = false; // the body ends when the peer closes
        state_ = state::body_close;
    }

    void on_chunk_size(std::string_view l) {
        // chunk-size [ BWS ";" ext ... ] ; the size is 1*HEXDIG
        std::size_t i = 0;
        std::uint64_t size = 0;
        while (i < l.size() && detail::hex_value(l[i]) >= 0) {
            if (size > (UINT64_MAX >> 4))
                return fail(errc::http_chunk_invalid);
            size = size * 16 + static_cast<std::uint64_t>(detail::hex_value(l[i]));
            ++i;
        }
        if (i == 0)
            return fail(errc::http_chunk_invalid);
        std::string_view rest = l.substr(i);
        while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t'))
            rest.remove_prefix(1);
        if (!rest.empty() && (rest.front() != ';' || !detail::is_field_value(rest)))
            return fail(errc::http_chunk_invalid);
        if (size == 0) {
            trailer_bytes_ = 0;
            state_ = state::trailer_line;
            return;
        }
        if (size > limits_.max_body_bytes - res_.body.size())
            return fail(errc::http_body_too_large);
        remaining_ = static_cast<std::size_t>(size);
        state_ = state::chunk_data;
    }

    parser_limits limits_;
    response res_;
    std::string line_; // a line split across feeds
    std::error_code error_;
    std::size_t header_bytes_ = 0;
    std::size_t header_count_ = 0;
    std::size_t trailer_bytes_ = 0;
    std::size_t trailer_count_ = 0;
    std::size_t remaining_ = 0;
    std::uint64_t received_ = 0;
    state state_ = state::status_line;
    bool head_request_ = false;
    bool keep_alive_ = false;
    bool excess_ = false;
    bool header_done_when_failed_ = false;
};

} // namespace oidc::http
