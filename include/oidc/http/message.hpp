// asio-oidc: HTTP/1.1 message types (no I/O). Knows nothing of OAuth.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oidc::http {

/// ASCII case-insensitive comparison, as HTTP field names need (RFC 9110 5.1).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]);
        unsigned char y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z')
            x = static_cast<unsigned char>(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = static_cast<unsigned char>(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

struct field {
    std::string name;
    std::string value;
};

/// Header fields in arrival order; lookup is case-insensitive; repeated fields are kept.
class fields {
public:
    using const_iterator = std::vector<field>::const_iterator;

    void add(std::string_view name, std::string_view value) {
        items_.push_back(field{std::string(name), std::string(value)});
    }
    /// Replaces every field of this name by one.
    void set(std::string_view name, std::string_view value) {
        erase(name);
        add(name, value);
    }
    void erase(std::string_view name) {
        items_.erase(std::remove_if(items_.begin(), items_.end(),
                                    [&](const field& f) { return iequals(f.name, name); }),
                     items_.end());
    }
    /// The first field of this name.
    std::optional<std::string_view> get(std::string_view name) const {
        for (const auto& f : items_)
            if (iequals(f.name, name))
                return std::string_view(f.value);
        return std::nullopt;
    }
    std::vector<std::string_view> get_all(std::string_view name) const {
        std::vector<std::string_view> out;
        for (const auto& f : items_)
            if (iequals(f.name, name))
                out.emplace_back(f.value);
        return out;
    }
    bool contains(std::string_view name) const { return get(name).has_value(); }
    std::size_t size() const noexcept { return items_.size(); }
    bool empty() const noexcept { return items_.empty(); }
    void reserve(std::size_t n) { items_.reserve(n); }
    void clear() noexcept { items_.clear(); }
    const_iterator begin() const noexcept { return items_.begin(); }
    const_iterator end() const noexcept { return items_.end(); }

private:
    std::vector<field> items_;
};

enum class verb { get, head, post, put, patch, delete_, options };

inline std::string_view to_string(verb v) noexcept {
    switch (v) {
    case verb::get:
        return "GET";
    case verb::head:
        return "HEAD";
    case verb::post:
        return "POST";
    case verb::put:
        return "PUT";
    case verb::patch:
        return "PATCH";
    case verb::delete_:
        return "DELETE";
    case verb::options:
        return "OPTIONS";
    }
    return "GET";
}

/// Idempotent methods (RFC 9110 9.2.2) may be retried once on a fresh connection.
inline bool is_idempotent(verb v) noexcept {
    return v != verb::post && v != verb::patch;
}

/// An HTTP request. `target` is an absolute URL ("https://host/path?q") when given to
/// the client, which derives Host and the request-target from it.
struct request {
    verb method = verb::get;
    std::string target;
    fields headers;
    std::string body;
};

struct response {
    int status = 0;
    int version_minor = 1; ///< HTTP/1.<minor>
    std::string reason;
    fields headers;
    std::string body;
};

} // namespace oidc::http
