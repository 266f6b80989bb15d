// asio-oidc: the claims set of a JWT as a typed view (RFC 7519 4, OpenID Connect Core 2 and
// 5.1, RFC 9068 2.2). No I/O.
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/error.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace oidc::jose {

/// The JSON type of a claim value.
enum class claim_type : std::uint8_t { null, boolean, integer, number, string, array, object };

/// The claims of a JWT, read once from the payload (one pass over the parsed document).
///
/// Registered and common claims have typed accessors; their JSON type is checked when the
/// claims are parsed (a wrong type is `errc::claim_invalid`): `iss`, `sub`, `jti`, `azp`,
/// `nonce`, `acr`, `sid`, `scope`, `client_id`, `at_hash`, `c_hash` are strings; `aud` is a string
/// or an array of strings; `amr` is an array of strings; `exp`, `nbf`, `iat`, `auth_time` are
/// numbers (NumericDate, possibly non-integer). Any other claim is read by name.
///
/// String accessors return an empty view when the claim is absent: use `contains()` to tell an
/// absent claim from an empty string. Views stay valid until the object is changed or destroyed.
///
/// A `claims` object may be reused: parsing into it again reuses its buffers, so a long-lived
/// object validates tokens without heap allocations once warmed up.
class claims {
public:
    /// Parses a claims set: a strict JSON object (valid UTF-8, no duplicate member names at any
    /// depth, nothing after it, nesting at most 32 deep, numbers that fit a double). Errors:
    /// json_invalid, json_duplicate_member, claim_invalid (a claim listed above with the wrong
    /// type). On error `out` is left empty. This checks no signature and no claim value.
    static inline std::error_code parse(std::string_view json, claims& out);

    // ---- registered and common claims ----
    std::string_view iss() const noexcept { return str(k_iss); }
    std::string_view sub() const noexcept { return str(k_sub); }
    /// The audiences: one element for a string `aud`, the array's elements otherwise.
    const std::vector<std::string>& aud() const noexcept { return aud_; }
    /// NumericDates in whole seconds since the epoch (rounded down; the exact value, which may
    /// be non-integer, is `get_number("exp")`). Empty when absent.
    std::optional<std::int64_t> exp() const noexcept { return date(k_exp); }
    std::optional<std::int64_t> nbf() const noexcept { return date(k_nbf); }
    std::optional<std::int64_t> iat() const noexcept { return date(k_iat); }
    std::optional<std::int64_t> auth_time() const noexcept { return date(k_auth_time); }
    std::string_view jti() const noexcept { return str(k_jti); }
    std::string_view azp() const noexcept { return str(k_azp); }
    std::string_view nonce() const noexcept { return str(k_nonce); }
    std::string_view acr() const noexcept { return str(k_acr); }
    const std::vector<std::string>& amr() const noexcept { return amr_; }
    std::string_view sid() const noexcept { return str(k_sid); }
    std::string_view at_hash() const noexcept { return str(k_at_hash); }
    std::string_view c_hash() const noexcept { return str(k_c_hash); }
    /// The space-separated `scope` claim (RFC 8693 4.2, RFC 9068 2.2.3).
    std::string_view scope() const noexcept { return str(k_scope); }
    /// True when `scope` lists `s`.
    inline bool has_scope(std::string_view s) const noexcept;
    std::string_view client_id() const noexcept { return str(k_client_id); }
    /// OpenID Connect standard claims (5.1); empty when absent or not a string.
    std::string_view email() const noexcept { return get_string("email").value_or(""); }
    std::string_view name() const noexcept { return get_string("name").value_or(""); }
    std::string_view preferred_username() const noexcept {
        return get_string("preferred_username").value_or("");
    }

    // ---- any claim by name ----
    bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
    std::optional<claim_type> type(std::string_view name) const noexcept {
        const entry* e = find(name);
        return e ? std::optional<claim_type>(e->type) : std::nullopt;
    }
    /// The string value (unescaped), or empty when absent or not a string.
    std::optional<std::string_view> get_string(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e || e->type != claim_type::string)
            return std::nullopt;
        return std::string_view(e->text);
    }
    /// The value when it is a number with an integral value that fits int64.
    std::optional<std::int64_t> get_int(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e)
            return std::nullopt;
        if (e->type == claim_type::integer)
            return e->integer;
        if (e->type == claim_type::number && std::floor(e->number) == e->number &&
            e->number >= -9.2e18 && e->number <= 9.2e18)
            return static_cast<std::int64_t>(e->number);
        return std::nullopt;
    }
    /// Any number, as a double.
    std::optional<double> get_number(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e)
            return std::nullopt;
        if (e->type == claim_type::integer)
            return static_cast<double>(e->integer);
        if (e->type == claim_type::number)
            return e->number;
        return std::nullopt;
    }
    std::optional<bool> get_bool(std::string_view name) const noexcept {
        const entry* e = find(name);
        if (!e || e->type != claim_type::boolean)
            return std::nullopt;
        return e->boolean;
    }
    /// The strings of an array claim made of strings only (e.g. Keycloak `groups`).
    inline std::optional<std::vector<std::string>> get_string_array(std::string_view name) const;
    /// The value as compact JSON text (objects and arrays as well: e.g. `realm_access`), or an
    /// empty string when absent.
    inline std::string raw(std::string_view name) const;

    /// Claim names in document order.
    std::size_t size() const noexcept { return size_; }
    std::string_view name_at(std::size_t i) const noexcept { return entries_[i].name; }

    /// All claims as one compact JSON object, in document order.
    inline std::string to_json() const;

    /// Empties the set (buffers are kept for reuse).
    void clear() noexcept {
        size_ = 0;
        index_.fill(-1);
        aud_.clear();
        amr_.clear();
    }

private:
    struct entry {
        std::string name;
        std::string text; ///< string: unescaped value; array/object: compact JSON
        double number = 0;
        std::int64_t integer = 0;
        claim_type type = claim_type::null;
        bool boolean = false;
    };

public:
    /// Indexes of the claims checked by type (internal; stable only within this version).
    enum known : std::uint8_t {
        k_iss,
        k_sub,
        k_aud,
        k_exp,
        k_nbf,
        k_iat,
        k_jti,
        k_azp,
        k_nonce,
        k_auth_time,
        k_acr,
        k_amr,
        k_sid,
        k_at_hash,
        k_c_hash,
        k_scope,
        k_client_id,
        k_count
    };
    /// Whether a typed claim is present.
    bool has(known k) const noexcept { return index_[k] >= 0; }
    /// The exact value of a NumericDate claim (exp, nbf, iat, auth_time).
    std::optional<double> date_value(known k) const noexcept {
        if (index_[k] < 0)
            return std::nullopt;
        const entry& e = entries_[static_cast<std::size_t>(index_[k])];
        return e.type == claim_type::integer ? static_cast<double>(e.integer) : e.number;
    }

private:
    std::string_view str(known k) const noexcept {
        return index_[k] < 0 ? std::string_view()
                             : std::string_view(entries_[static_cast<std::size_t>(index_[k])].text);
    }
    std::optional<std::int64_t> date(known k) const noexcept {
        auto d = date_value(k);
        if (!d)
            return std::nullopt;
        double f = std::floor(*d);
        if (f >= 9.2e18)
            return INT64_MAX;
        if (f <= -9.2e18)
            return INT64_MIN;
        return static_cast<std::int64_t>(f);
    }
    const entry* find(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < size_; ++i)
            if (entries_[i].name == name)
                return &entries_[i];
        return nullptr;
    }
    static inline void append_raw(const entry& e, std::string& out);

    std::vector<entry> entries_; ///< first size_ in use; the rest keep their buffers
    std::size_t size_ = 0;
    std::array<std::int16_t, k_count> index_ = make_empty_index();
    std::vector<std::string> aud_;
    std::vector<std::string> amr_;

    static constexpr std::array<std::int16_t, k_count> make_empty_index() {
        std::array<std::int16_t, k_count> a{};
        for (auto& x : a)
            x = -1;
        return a;
    }
};

namespace detail {

inline constexpr std::size_t claims_max_depth = 32;

/// Which typed claim a member name is, or k_count.
inline claims::known known_claim(std::string_view n) noexcept {
    using k = claims::known;
    switch (n.size()) {
    case 3:
        switch (n[0]) {
        case 'i':
            return n == "iss" ? k::k_iss : n == "iat" ? k::k_iat : k::k_count;
        case 's':
            return n == "sub" ? k::k_sub : n == "sid" ? k::k_sid : k::k_count;
        case 'a':
            return n == "aud"   ? k::k_aud
                   : n == "azp" ? k::k_azp
                   : n == "acr" ? k::k_acr
                   : n == "amr" ? k::k_amr
                                : k::k_count;
        case 'e':
            return n == "exp" ? k::k_exp : k::k_count;
        case 'n':
            return n == "nbf" ? k::k_nbf : k::k_count;
        case 'j':
            return n == "jti" ? k::k_jti : k::k_count;
        default:
            return k::k_count;
        }
    case 5:
        return n == "nonce" ? k::k_nonce : n == "scope" ? k::k_scope : k::k_count;
    case 6:
        return n == "c_hash" ? k::k_c_hash : k::k_count;
    case 7:
        return n == "at_hash" ? k::k_at_hash : k::k_count;
    case 9:
        return n == "auth_time" ? k::k_auth_time : n == "client_id" ? k::k_client_id : k::k_count;
    default:
        return k::k_count;
    }
}

template <class Int>
inline void append_int(std::string& out, Int v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

/// Shortest round-trip form; always reads back as a non-integer JSON number ("2500.0").
inline void append_number(std::string& out, double d) {
    char buf[40];
    auto r = std::to_chars(buf, buf + sizeof buf - 2, d);
    std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf));
    out.append(s);
    if (s.find_first_of(".eE") == std::string_view::npos)
        out += ".0";
}

/// Writes a DOM value as compact JSON, checking duplicate names and depth on the way.
inline std::error_code write_json(simdjson::dom::element e, std::string& out, std::size_t depth) {
    using et = simdjson::dom::element_type;
    if (depth > claims_max_depth)
        return errc::json_invalid;
    switch (e.type()) {
    case et::OBJECT: {
        simdjson::dom::object o;
        if (e.get(o))
            return errc::json_invalid;
        out.push_back('{');
        bool first = true;
        for (auto it = o.begin(), end = o.end(); it != end; ++it) {
            std::string_view key = it.key();
            for (auto jt = o.begin(); jt != it; ++jt)
                if (jt.key() == key)
                    return errc::json_duplicate_member;
            if (!first)
                out.push_back(',');
            first = false;
            oidc::detail::json::append_escaped(out, key);
            out.push_back(':');
            if (auto ec = write_json(it.value(), out, depth + 1))
                return ec;
        }
        out.push_back('}');
        return {};
    }
    case et::ARRAY: {
        out.push_back('[');
        bool first = true;
        simdjson::dom::array a;
        if (e.get(a))
            return errc::json_invalid;
        for (auto item : a) {
            if (!first)
                out.push_back(',');
            first = false;
            if (auto ec = write_json(item, out, depth + 1))
                return ec;
        }
        out.push_back(']');
        return {};
    }
    case et::STRING:
        oidc::detail::json::append_escaped(out, e.get_string().value_unsafe());
        return {};
    case et::INT64:
        append_int(out, e.get_int64().value_unsafe());
        return {};
    case et::UINT64:
        append_int(out, e.get_uint64().value_unsafe());
        return {};
    case et::DOUBLE: {
        double d = e.get_double().value_unsafe();
        if (!std::isfinite(d))
            return errc::json_number_out_of_range;
        append_number(out, d);
        return {};
    }
    case et::BOOL:
        out += e.get_bool().value_unsafe() ? "true" : "false";
        return {};
    case et::NULL_VALUE:
        out += "null";
        return {};
    }
    return errc::json_invalid;
}

/// Fills `out` with the strings of a DOM array; claim_invalid unless every item is a string.
inline std::error_code read_string_array(simdjson::dom::element e, std::vector<std::string>& out) {
    out.clear();
    simdjson::dom::array a;
    if (e.get(a))
        return errc::claim_invalid;
    for (auto item : a) {
        if (item.type() != simdjson::dom::element_type::STRING)
            return errc::claim_invalid;
        out.emplace_back(item.get_string().value_unsafe());
    }
    return {};
}

} // namespace detail

inline std::error_code claims::parse(std::string_view json, claims& out) {
    using et = simdjson::dom::element_type;
    out.clear();
    auto& st = oidc::detail::json::impl::state();
    st.buffer.reserve(json.size() + simdjson::SIMDJSON_PADDING);
    st.buffer.assign(json.data(), json.size());
    simdjson::dom::element root;
    if (auto e = st.parser.parse(st.buffer.data(), json.size(), false).get(root))
        return oidc::detail::json::impl::map_error(e);
    simdjson::dom::object top;
    if (root.get(top))
        return errc::json_invalid;

    std::error_code ec;
    std::size_t n = 0;
    for (auto field : top) {
        std::string_view key = field.key;
        for (std::size_t i = 0; i < n; ++i)
            if (out.entries_[i].name == key) {
                ec = errc::json_duplicate_member;
                break;
            }
        if (ec)
            break;
        if (n == out.entries_.size())
            out.entries_.emplace_back();
        entry& e = out.entries_[n];
        e.name.assign(key);
        e.text.clear();
        simdjson::dom::element v = field.value;
        switch (v.type()) {
        case et::STRING:
            e.type = claim_type::string;
            e.text.assign(v.get_string().value_unsafe());
            break;
        case et::INT64:
            e.type = claim_type::integer;
            e.integer = v.get_int64().value_unsafe();
            break;
        case et::UINT64:
            e.type = claim_type::number;
            e.number = static_cast<double>(v.get_uint64().value_unsafe());
            break;
        case et::DOUBLE:
            e.type = claim_type::number;
            e.number = v.get_double().value_unsafe();
            if (!std::isfinite(e.number))
                ec = errc::json_number_out_of_range;
            break;
        case et::BOOL:
            e.type = claim_type::boolean;
            e.boolean = v.get_bool().value_unsafe();
            break;
        case et::NULL_VALUE:
            e.type = claim_type::null;
            break;
        case et::ARRAY:
            e.type = claim_type::array;
            ec = detail::write_json(v, e.text, 2);
            break;
        case et::OBJECT:
            e.type = claim_type::object;
            ec = detail::write_json(v, e.text, 2);
            break;
        }
        if (ec)
            break;
        ++n;

        known k = detail::known_claim(key);
        if (k == k_count)
            continue;
        out.index_[k] = static_cast<std::int16_t>(n - 1);
        switch (k) {
        case k_aud:
            if (e.type == claim_type::string)
                out.aud_.assign(1, e.text);
            else if (e.type == claim_type::array)
                ec = detail::read_string_array(v, out.aud_);
            else
                ec = errc::claim_invalid;
            break;
        case k_amr:
            if (e.type == claim_type::array)
                ec = detail::read_string_array(v, out.amr_);
            else
                ec = errc::claim_invalid;
            break;
        case k_exp:
        case k_nbf:
        case k_iat:
        case k_auth_time:
            if (e.type != claim_type::integer && e.type != claim_type::number)
                ec = errc::claim_invalid;
            break;
        default:
            if (e.type != claim_type::string)
                ec = errc::claim_invalid;
            break;
        }
        if (ec)
            break;
    }
    if (ec) {
        out.clear();
        return ec;
    }
    out.size_ = n;
    return {};
}

inline bool claims::has_scope(std::string_view s) const noexcept {
    if (s.empty())
        return false;
    std::string_view all = scope();
    while (!all.empty()) {
        auto sp = all.find(' ');
        std::string_view tok = all.substr(0, sp);
        if (tok == s)
            return true;
        if (sp == std::string_view::npos)
            break;
        all.remove_prefix(sp + 1);
    }
    return false;
}

inline std::optional<std::vector<std::string>>
claims::get_string_array(std::string_view name) const {
    const entry* e = find(name);
    if (!e || e->type != claim_type::array)
        return std::nullopt;
    if (name == "aud")
        return aud_;
    if (name == "amr")
        return amr_;
    auto& st = oidc::detail::json::impl::state();
    st.buffer.reserve(e->text.size() + simdjson::SIMDJSON_PADDING);
    st.buffer.assign(e->text);
    simdjson::dom::element root;
    if (st.parser.parse(st.buffer.data(), e->text.size(), false).get(root))
        return std::nullopt;
    std::vector<std::string> out;
    if (detail::read_string_array(root, out))
        return std::nullopt;
    return out;
}

inline void claims::append_raw(const entry& e, std::string& out) {
    switch (e.type) {
    case claim_type::null:
        out += "null";
        break;
    case claim_type::boolean:
        out += e.boolean ? "true" : "false";
        break;
    case claim_type::integer:
        detail::append_int(out, e.integer);
        break;
    case claim_type::number:
        detail::append_number(out, e.number);
        break;
    case claim_type::string:
        oidc::detail::json::append_escaped(out, e.text);
        break;
    case claim_type::array:
    case claim_type::object:
        out += e.text;
        break;
    }
}

inline std::string claims::raw(std::string_view name) const {
    std::string out;
    if (const entry* e = find(name))
        append_raw(*e, out);
    return out;
}

inline std::string claims::to_json() const {
    std::string out;
    out.push_back('{');
    for (std::size_t i = 0; i < size_; ++i) {
        if (i)
            out.push_back(',');
        oidc::detail::json::append_escaped(out, entries_[i].name);
        out.push_back(':');
        append_raw(entries_[i], out);
    }
    out.push_back('}');
    return out;
}

} // namespace oidc::jose
