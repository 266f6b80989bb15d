// asio-oidc: strict JSON reading and writing (private). simdjson (DOM, run-time dispatched) does
// the parsing; this header turns a document into a small owned tree with the checks a security
// protocol needs: one object at the root, nothing after it, valid UTF-8, no duplicate member names,
// numbers that fit, bounded depth. No simdjson type appears in the interface.
#pragma once

#include <oidc/error.hpp>

// g++ 12 at -O2/-O3 reports -Wdangling-pointer / -Wmaybe-uninitialized inside simdjson's own
// inline code once it is inlined into ours; the locations are in simdjson.h, so silencing
// them around the include leaves our code checked.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <simdjson.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace oidc::detail::json {

struct member;
class value;
using array = std::vector<value>;
using object = std::vector<member>; ///< members in document order, names unique

enum class kind : std::uint8_t { null, boolean, integer, number, string, array, object };

/// A JSON value. Integers that fit int64 are kept exact (NumericDate, expires_in); other
/// numbers are doubles.
class value {
public:
    // The constructors are defined after `member` is complete: clang instantiates the variant
    // (which holds std::vector<member>) in any constructor body it sees inside this class.
    inline value() noexcept;
    inline value(std::nullptr_t) noexcept;
    inline value(bool b) noexcept;
    inline value(std::int64_t i) noexcept;
    inline value(int i) noexcept;
    inline value(double d) noexcept;
    inline value(std::string s) noexcept;
    inline value(std::string_view s);
    inline value(const char* s);
    inline value(array a) noexcept;
    inline value(object o) noexcept;

    kind type() const noexcept { return static_cast<kind>(v_.index()); }
    bool is_null() const noexcept { return type() == kind::null; }
    bool is_bool() const noexcept { return type() == kind::boolean; }
    bool is_integer() const noexcept { return type() == kind::integer; }
    bool is_number() const noexcept { return is_integer() || type() == kind::number; }
    bool is_string() const noexcept { return type() == kind::string; }
    bool is_array() const noexcept { return type() == kind::array; }
    bool is_object() const noexcept { return type() == kind::object; }

    bool as_bool() const { return std::get<bool>(v_); }
    std::int64_t as_integer() const { return std::get<std::int64_t>(v_); }
    double as_double() const {
        return is_integer() ? static_cast<double>(as_integer()) : std::get<double>(v_);
    }
    const std::string& as_string() const { return std::get<std::string>(v_); }
    const array& as_array() const { return std::get<array>(v_); }
    array& as_array() { return std::get<array>(v_); }
    const object& as_object() const { return std::get<object>(v_); }
    object& as_object() { return std::get<object>(v_); }

    /// Member lookup on an object; nullptr when absent or when this is not an object.
    inline const value* find(std::string_view name) const noexcept;
    /// The string member `name`, or nullptr when absent or not a string.
    inline const std::string* find_string(std::string_view name) const noexcept;

    friend bool operator==(const value&, const value&) = default;

private:
    std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, array, object> v_;
};

struct member {
    std::string name;
    value val;
    friend bool operator==(const member&, const member&) = default;
};

inline value::value() noexcept = default;
inline value::value(std::nullptr_t) noexcept {}
inline value::value(bool b) noexcept : v_(b) {}
inline value::value(std::int64_t i) noexcept : v_(i) {}
inline value::value(int i) noexcept : v_(std::int64_t{i}) {}
inline value::value(double d) noexcept : v_(d) {}
inline value::value(std::string s) noexcept : v_(std::move(s)) {}
inline value::value(std::string_view s) : v_(std::string(s)) {}
inline value::value(const char* s) : v_(std::string(s)) {}
inline value::value(array a) noexcept : v_(std::move(a)) {}
inline value::value(object o) noexcept : v_(std::move(o)) {}

inline const value* value::find(std::string_view name) const noexcept {
    if (!is_object())
        return nullptr;
    for (const auto& m : as_object())
        if (m.name == name)
            return &m.val;
    return nullptr;
}

inline const std::string* value::find_string(std::string_view name) const noexcept {
    const value* v = find(name);
    return v && v->is_string() ? &v->as_string() : nullptr;
}

struct parse_options {
    std::size_t max_bytes = 1024 * 1024;
    std::size_t max_depth = 32;
};

namespace impl {

inline std::error_code map_error(simdjson::error_code e) noexcept {
    switch (e) {
    case simdjson::SUCCESS:
        return {};
    case simdjson::NUMBER_OUT_OF_RANGE:
    case simdjson::INCORRECT_TYPE:
        return errc::json_wrong_type;
    default:
        return errc::json_invalid;
    }
}

// The DOM parser of the compiled simdjson library picks the best SIMD kernel at run time
// (On Demand would be compiled into our headers for the baseline CPU only). It validates
// UTF-8, the whole structure and trailing content; duplicate names are checked here.
inline std::error_code convert(simdjson::dom::element e, value& out, std::size_t depth,
                               std::size_t max_depth) {
    if (depth > max_depth)
        return errc::json_invalid;
    switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
        simdjson::dom::object o = e.get_object().value_unsafe();
        object members;
        members.reserve(o.size());
        for (auto field : o) {
            for (const auto& m : members)
                if (m.name == field.key)
                    return errc::json_duplicate_member;
            members.push_back(member{std::string(field.key), value()});
            if (auto ec = convert(field.value, members.back().val, depth + 1, max_depth))
                return ec;
        }
        out = value(std::move(members));
        return {};
    }
    case simdjson::dom::element_type::ARRAY: {
        simdjson::dom::array a = e.get_array().value_unsafe();
        array items;
        items.reserve(a.size());
        for (auto item : a) {
            items.emplace_back();
            if (auto ec = convert(item, items.back(), depth + 1, max_depth))
                return ec;
        }
        out = value(std::move(items));
        return {};
    }
    case simdjson::dom::element_type::STRING:
        out = value(std::string(e.get_string().value_unsafe()));
        return {};
    case simdjson::dom::element_type::INT64:
        out = value(e.get_int64().value_unsafe());
        return {};
    case simdjson::dom::element_type::UINT64:
        out = value(static_cast<double>(e.get_uint64().value_unsafe()));
        return {};
    case simdjson::dom::element_type::DOUBLE: {
        double d = e.get_double().value_unsafe();
        if (!std::isfinite(d))
            return errc::json_number_out_of_range;
        out = value(d);
        return {};
    }
    case simdjson::dom::element_type::BOOL:
        out = value(e.get_bool().value_unsafe());
        return {};
    case simdjson::dom::element_type::NULL_VALUE:
        out = value(nullptr);
        return {};
    }
    return errc::json_invalid;
}

struct thread_state {
    simdjson::dom::parser parser;
    std::string buffer; ///< input copy with simdjson's padding
};

inline thread_state& state() {
    thread_local thread_state s;
    return s;
}

} // namespace impl

/// Parses a JSON text whose root must be an object. Errors: json_invalid (syntax, trailing
/// bytes, invalid UTF-8, too deep, root not an object), json_duplicate_member,
/// json_number_out_of_range, input_too_large.
inline std::error_code parse_object(std::string_view text, value& out,
                                    const parse_options& opt = {}) {
    if (text.size() > opt.max_bytes)
        return errc::input_too_large;
    auto& st = impl::state();
    st.buffer.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    st.buffer.assign(text.data(), text.size());
    simdjson::dom::element root;
    if (auto e = st.parser.parse(st.buffer.data(), text.size(), false).get(root))
        return impl::map_error(e);
    if (root.type() != simdjson::dom::element_type::OBJECT)
        return errc::json_invalid;
    return impl::convert(root, out, 1, opt.max_depth);
}

// ---- writing ----

inline void append_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 15]);
            } else {
                out.push_back(ch);
            }
        }
    }
    out.push_back('"');
}

inline void append_double(std::string& out, double d) {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.17g", d);
    out.append(buf, static_cast<std::size_t>(n));
}

/// Serializes compactly (no spaces), members in stored order. `indent` > 0 pretty-prints.
inline void dump(const value& v, std::string& out, int indent = 0, int level = 0) {
    auto newline = [&](int lvl) {
        if (indent > 0) {
            out.push_back('\n');
            out.append(static_cast<std::size_t>(indent * lvl), ' ');
        }
    };
    switch (v.type()) {
    case kind::null:
        out += "null";
        break;
    case kind::boolean:
        out += v.as_bool() ? "true" : "false";
        break;
    case kind::integer:
        out += std::to_string(v.as_integer());
        break;
    case kind::number:
        append_double(out, v.as_double());
        break;
    case kind::string:
        append_escaped(out, v.as_string());
        break;
    case kind::array: {
        out.push_back('[');
        bool first = true;
        for (const auto& e : v.as_array()) {
            if (!first)
                out.push_back(',');
            first = false;
            newline(level + 1);
            dump(e, out, indent, level + 1);
        }
        if (!v.as_array().empty())
            newline(level);
        out.push_back(']');
        break;
    }
    case kind::object: {
        out.push_back('{');
        bool first = true;
        for (const auto& m : v.as_object()) {
            if (!first)
                out.push_back(',');
            first = false;
            newline(level + 1);
            append_escaped(out, m.name);
            out.push_back(':');
            if (indent > 0)
                out.push_back(' ');
            dump(m.val, out, indent, level + 1);
        }
        if (!v.as_object().empty())
            newline(level);
        out.push_back('}');
        break;
    }
    }
}

inline std::string dump(const value& v, int indent = 0) {
    std::string s;
    dump(v, s, indent);
    return s;
}

} // namespace oidc::detail::json
