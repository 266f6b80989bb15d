// asio-oidc: provider metadata (OpenID Connect Discovery 1.0 section 3/4, RFC 8414), read
// without I/O. oidc::client::discover() fetches and caches it.
#pragma once

#include <oidc/detail/json.hpp>
#include <oidc/error.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace oidc {

/// Where a provider's metadata lives.
enum class metadata_kind {
    openid,      ///< issuer + "/.well-known/openid-configuration" (OpenID Discovery 4)
    oauth_server ///< "/.well-known/oauth-authorization-server" inserted before the path (RFC 8414
                 ///< 3)
};

/// The metadata document URL for an issuer identifier.
inline std::string metadata_url(std::string_view issuer,
                                metadata_kind kind = metadata_kind::openid) {
    std::string_view iss = issuer;
    while (!iss.empty() && iss.back() == '/')
        iss.remove_suffix(1);
    if (kind == metadata_kind::openid)
        return std::string(iss) + "/.well-known/openid-configuration";
    // RFC 8414 3.1: https://host/path -> https://host/.well-known/oauth-authorization-server/path
    auto scheme_end = iss.find("://");
    auto path_start = scheme_end == std::string_view::npos ? std::string_view::npos
                                                           : iss.find('/', scheme_end + 3);
    std::string_view origin =
        path_start == std::string_view::npos ? iss : iss.substr(0, path_start);
    std::string_view path = path_start == std::string_view::npos ? "" : iss.substr(path_start);
    return std::string(origin) + "/.well-known/oauth-authorization-server" + std::string(path);
}

/// The members of provider metadata this library uses; every other member through member().
struct provider_metadata {
    std::string issuer;
    std::string authorization_endpoint;
    std::string token_endpoint;
    std::string userinfo_endpoint;
    std::string jwks_uri;
    std::string end_session_endpoint;
    std::string introspection_endpoint;
    std::string revocation_endpoint;
    std::string device_authorization_endpoint;
    std::string registration_endpoint;
    std::string pushed_authorization_request_endpoint; ///< RFC 9126 5
    /// RFC 9126 5: the provider takes authorization requests only when pushed
    /// (client::authorization_url() then fails with errc::pushed_authorization_required).
    bool require_pushed_authorization_requests = false;
    std::vector<std::string> scopes_supported;
    std::vector<std::string> response_types_supported;
    std::vector<std::string> grant_types_supported;
    std::vector<std::string> token_endpoint_auth_methods_supported;
    std::vector<std::string> id_token_signing_alg_values_supported;
    std::vector<std::string> code_challenge_methods_supported;

    const detail::json::value* member(std::string_view name) const noexcept {
        return raw_ ? raw_->find(name) : nullptr;
    }

    /// Whether a list member names `value` (e.g. supports("grant_types_supported", "password")).
    static bool contains(const std::vector<std::string>& list, std::string_view value) {
        for (const auto& s : list)
            if (s == value)
                return true;
        return false;
    }

private:
    friend std::error_code parse_provider_metadata(std::string_view, std::string_view,
                                                   provider_metadata&);
    std::shared_ptr<const detail::json::value> raw_;
};

/// Reads a metadata document. The "issuer" member must equal `expected_issuer` exactly
/// (OpenID Discovery 4.3, RFC 8414 3.3): a mismatch is issuer_metadata_mismatch, which stops
/// a provider from impersonating another. Errors: issuer_metadata_mismatch, claim_missing
/// (no issuer), json_wrong_type (a known member of the wrong type), JSON errors.
inline std::error_code parse_provider_metadata(std::string_view body,
                                               std::string_view expected_issuer,
                                               provider_metadata& out) {
    auto v = std::make_shared<detail::json::value>();
    if (auto ec = detail::json::parse_object(body, *v))
        return ec;
    provider_metadata m;
    const auto* iss = v->find("issuer");
    if (!iss)
        return errc::claim_missing;
    if (!iss->is_string())
        return errc::json_wrong_type;
    if (iss->as_string() != expected_issuer)
        return errc::issuer_metadata_mismatch;
    m.issuer = iss->as_string();

    auto str = [&](std::string_view name, std::string& dst) {
        const auto* x = v->find(name);
        if (!x || x->is_null())
            return true;
        if (!x->is_string())
            return false;
        dst = x->as_string();
        return true;
    };
    auto list = [&](std::string_view name, std::vector<std::string>& dst) {
        const auto* x = v->find(name);
        if (!x || x->is_null())
            return true;
        if (!x->is_array())
            return false;
        for (const auto& e : x->as_array()) {
            if (!e.is_string())
                return false;
            dst.push_back(e.as_string());
        }
        return true;
    };
    auto flag = [&](std::string_view name, bool& dst) {
        const auto* x = v->find(name);
        if (!x || x->is_null())
            return true;
        if (!x->is_bool())
            return false;
        dst = x->as_bool();
        return true;
    };
    bool ok =
        str("authorization_endpoint", m.authorization_endpoint) &&
        str("token_endpoint", m.token_endpoint) && str("userinfo_endpoint", m.userinfo_endpoint) &&
        str("jwks_uri", m.jwks_uri) && str("end_session_endpoint", m.end_session_endpoint) &&
        str("introspection_endpoint", m.introspection_endpoint) &&
        str("revocation_endpoint", m.revocation_endpoint) &&
        str("device_authorization_endpoint", m.device_authorization_endpoint) &&
        str("registration_endpoint", m.registration_endpoint) &&
        str("pushed_authorization_request_endpoint", m.pushed_authorization_request_endpoint) &&
        flag("require_pushed_authorization_requests", m.require_pushed_authorization_requests) &&
        list("scopes_supported", m.scopes_supported) &&
        list("response_types_supported", m.response_types_supported) &&
        list("grant_types_supported", m.grant_types_supported) &&
        list("token_endpoint_auth_methods_supported", m.token_endpoint_auth_methods_supported) &&
        list("id_token_signing_alg_values_supported", m.id_token_signing_alg_values_supported) &&
        list("code_challenge_methods_supported", m.code_challenge_methods_supported);
    if (!ok)
        return errc::json_wrong_type;
    m.raw_ = std::move(v);
    out = std::move(m);
    return {};
}

} // namespace oidc
