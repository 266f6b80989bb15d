// asio-oidc: oidc::client, the OAuth 2.0 / OpenID Connect operations against one provider
// for one client: discovery, every grant at the token endpoint, refresh, JWKS, userinfo,
// introspection, revocation, the device flow, and the authorization code flow helpers.
#pragma once

#include <oidc/authorization.hpp>
#include <oidc/client_auth.hpp>
#include <oidc/detail/async_op.hpp>
#include <oidc/detail/config.hpp>
#include <oidc/detail/json.hpp>
#include <oidc/detail/www_authenticate.hpp>
#include <oidc/discovery.hpp>
#include <oidc/dpop.hpp>
#include <oidc/error.hpp>
#include <oidc/grants.hpp>
#include <oidc/http/client.hpp>
#include <oidc/http/message.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/claims.hpp>
#include <oidc/jose/jwk.hpp>
#include <oidc/jose/jws.hpp>
#include <oidc/jose/jwt.hpp>
#include <oidc/token.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace oidc {

/// The configuration of one client of one provider.
struct client_options {
    /// The issuer identifier; discovery reads issuer + "/.well-known/openid-configuration"
    /// and requires the document's "issuer" to equal it exactly.
    std::string issuer;
    /// Endpoints given directly (skips discovery), e.g. only a token_endpoint for a bare
    /// Keycloak token URL. When set, `issuer` is only used to validate ID tokens.
    std::optional<provider_metadata> metadata;
    std::string client_id;
    client_auth auth;          ///< auth_none for public clients
    http::client_options http; ///< TLS (CA file, client certificate), timeouts, limits, proxy
    std::chrono::milliseconds timeout{30000}; ///< whole-operation bound (each operation)
    std::chrono::seconds id_token_leeway{60};
    std::vector<jose::alg> id_token_algs{jose::alg::RS256};
    /// Validate ID tokens returned by every grant (signature via jwks_uri, iss, aud, azp,
    /// exp, iat). handle_callback() always validates (with nonce and at_hash).
    bool validate_id_tokens = true;
    /// The client is registered with require_auth_time (OpenID Connect Dynamic Client
    /// Registration 2): every validated ID token must carry an integer auth_time
    /// (errc::auth_time_missing).
    bool require_auth_time = false;
    /// DPoP (RFC 9449): every token request (and pushed authorization request) carries a
    /// proof signed with this key, so that the provider binds the tokens to it; userinfo()
    /// then presents a DPoP-bound access token with a proof (`Authorization: DPoP`). A
    /// provider's DPoP-Nonce is kept per origin and a request it refused with
    /// use_dpop_nonce is sent once more with the nonce. Unset: Bearer tokens.
    std::optional<dpop_key> dpop;
};

/// A userinfo response (OpenID Connect Core 5.3.2): JSON, or a signed JWT whose signature,
/// iss and aud were checked.
struct userinfo {
    std::string sub;
    bool was_signed = false;
    const detail::json::value* member(std::string_view name) const noexcept {
        return raw_ ? raw_->find(name) : nullptr;
    }
    /// The whole response as compact JSON.
    std::string json() const { return raw_ ? detail::json::dump(*raw_) : std::string("{}"); }
    std::shared_ptr<const detail::json::value> raw_;
};

/// An introspection response (RFC 7662 2.2).
struct introspection {
    bool active = false;
    std::string scope, client_id, username, token_type, sub, iss;
    std::optional<clock::time_point> exp;
    const detail::json::value* member(std::string_view name) const noexcept {
        return raw_ ? raw_->find(name) : nullptr;
    }
    std::string json() const { return raw_ ? detail::json::dump(*raw_) : std::string("{}"); }
    std::shared_ptr<const detail::json::value> raw_;
};

/// A TLS context for tls_client_auth (RFC 8705): trusts the system store plus `ca_file`
/// (when non-empty) and presents the client certificate chain and private key (PEM files).
/// Throws std::system_error when a file cannot be read.
inline std::shared_ptr<asio::ssl::context> make_tls_client_context(const std::string& ca_file,
                                                                   const std::string& cert_file,
                                                                   const std::string& key_file) {
    auto ctx = http::detail::make_tls_context(ca_file);
    ctx->use_certificate_chain_file(cert_file);
    ctx->use_private_key_file(key_file, asio::ssl::context::pem);
    return ctx;
}

namespace detail {

/// Everything the operations of one client share. Operations hold a shared_ptr to it, so
/// the client may be destroyed while they run.
struct client_state {
    client_state(asio::any_io_executor e, client_options o)
        : ex(std::move(e)), opts(std::move(o)), http(ex, opts.http) {}

    asio::any_io_executor ex;
    const client_options opts;
    http::client http;

    std::mutex mu; // guards the caches below; never held across I/O
    std::optional<provider_metadata> metadata;
    std::shared_ptr<const jose::jwk_set> jwks;
    std::map<std::string, std::string, std::less<>> dpop_nonces; // origin -> DPoP-Nonce

    std::optional<provider_metadata> cached_metadata() {
        if (opts.metadata)
            return opts.metadata;
        std::lock_guard<std::mutex> lock(mu);
        return metadata;
    }

    /// Sets the DPoP header of a request to `url` (method `method`, presenting
    /// `access_token` when not empty) with the last nonce of the URL's origin. Nothing
    /// without a DPoP key.
    std::error_code dpop_proof(std::string_view method, std::string_view url,
                               std::string_view access_token, http::fields& headers) {
        if (!opts.dpop)
            return {};
        http::url u;
        if (auto ec = http::parse_url(url, u))
            return ec;
        std::string nonce;
        {
            std::lock_guard<std::mutex> lock(mu);
            if (auto it = dpop_nonces.find(u.origin()); it != dpop_nonces.end())
                nonce = it->second;
        }
        std::string proof;
        if (auto ec =
                make_dpop_proof(*opts.dpop, method, u, clock::now(), access_token, nonce, proof))
            return ec;
        headers.set("DPoP", proof);
        return {};
    }

    /// Keeps the DPoP-Nonce of a response from `url` (RFC 9449 8.2, 9) for the next proofs
    /// to its origin. True when the response refused the request for want of that new nonce
    /// (use_dpop_nonce): the request may be sent once more.
    bool dpop_nonce_retry(std::string_view url, const http::response& resp) {
        auto n = resp.headers.get("DPoP-Nonce");
        http::url u;
        if (!opts.dpop || !n || n->empty() || n->size() > 1024 || http::parse_url(url, u))
            return false;
        {
            std::lock_guard<std::mutex> lock(mu);
            std::string& slot = dpop_nonces[u.origin()];
            if (slot == *n)
                return false;
            slot = std::string(*n);
        }
        return asks_dpop_nonce(resp);
    }
};

using state_ptr = std::shared_ptr<client_state>;
using send_result = std::pair<std::error_code, http::response>;

inline http::request json_get(std::string url) {
    http::request r;
    r.method = http::verb::get;
    r.target = std::move(url);
    r.headers.set("Accept", "application/json");
    return r;
}

inline http::request form_post(std::string url, std::string body) {
    http::request r;
    r.method = http::verb::post;
    r.target = std::move(url);
    r.headers.set("Content-Type", "application/x-www-form-urlencoded");
    r.headers.set("Accept", "application/json");
    r.body = std::move(body);
    return r;
}

// (State is a template parameter so that async_send is only instantiated where it is used:
// see OIDC_CORO.)
template <class State>
inline asio::awaitable<send_result> send(std::shared_ptr<State> st, http::request req) {
    auto [ec, resp] = co_await st->http.async_send(std::move(req), net::use_nothrow_awaitable);
    co_return send_result{ec, std::move(resp)};
}

// Body lookup for a JSON document response (status 200 expected).
inline std::error_code read_json_response(const http::response& resp, json::value& v,
                                          diagnostics& diag) {
    if (resp.status != 200)
        return read_oauth_error(resp.body, resp.status, diag);
    diag.http_status = resp.status;
    if (auto ec = json::parse_object(resp.body, v))
        return ec;
    diag.clear();
    return {};
}

OIDC_CORO inline asio::awaitable<op_result<provider_metadata>> discover_op(state_ptr st) {
    op_result<provider_metadata> out;
    if (auto m = st->cached_metadata()) {
        out.value = std::move(*m);
        co_return out;
    }
    if (st->opts.issuer.empty()) {
        out.ec = errc::endpoint_not_supported;
        co_return out;
    }
    http::request req = json_get(metadata_url(st->opts.issuer));
    auto [ec, resp] = co_await send(st, std::move(req));
    if (ec) {
        out.ec = ec;
        co_return out;
    }
    if (resp.status != 200) {
        out.ec = read_oauth_error(resp.body, resp.status, out.diag);
        co_return out;
    }
    provider_metadata m;
    if ((out.ec = parse_provider_metadata(resp.body, st->opts.issuer, m))) {
        out.diag.http_status = resp.status;
        co_return out;
    }
    {
        std::lock_guard<std::mutex> lock(st->mu);
        st->metadata = m;
    }
    out.value = std::move(m);
    co_return out;
}

// Metadata (cached or discovered) with one endpoint required.
OIDC_CORO inline asio::awaitable<std::error_code>
endpoint(state_ptr st, std::string provider_metadata::*which, std::string& url, diagnostics& diag) {
    auto md = co_await discover_op(st);
    if (md.ec) {
        diag = std::move(md.diag);
        co_return md.ec;
    }
    url = md.value.*which;
    if (url.empty())
        co_return std::error_code(errc::endpoint_not_supported);
    co_return std::error_code{};
}

// A form POST with client authentication to one endpoint; with `dpop` (token and pushed
// authorization requests) a DPoP proof too, sent once more with the nonce the server asked
// for.
OIDC_CORO inline asio::awaitable<send_result> auth_post(state_ptr st, std::string url,
                                                        std::string form, bool dpop = false) {
    for (int attempt = 0;; ++attempt) {
        http::request req = form_post(url, {});
        // Client assertions are fresh on every attempt; only a DPoP request has a second.
        std::string body = dpop ? form : std::move(form);
        if (auto ec = apply_client_auth(st->opts.auth, st->opts.client_id, url, clock::now(),
                                        req.headers, body))
            co_return send_result{ec, {}};
        if (dpop)
            if (auto ec = st->dpop_proof("POST", url, {}, req.headers))
                co_return send_result{ec, {}};
        req.body = std::move(body);
        auto r = co_await send(st, std::move(req));
        if (r.first || !dpop || !st->dpop_nonce_retry(url, r.second) || attempt > 0)
            co_return r;
    }
}

OIDC_CORO inline asio::awaitable<op_result<jose::jwk_set>> fetch_jwks_op(state_ptr st,
                                                                         std::string url) {
    op_result<jose::jwk_set> out;
    if (url.empty()) {
        if ((out.ec = co_await endpoint(st, &provider_metadata::jwks_uri, url, out.diag)))
            co_return out;
    }
    http::request req = json_get(std::move(url));
    auto [ec, resp] = co_await send(st, std::move(req));
    if (ec) {
        out.ec = ec;
        co_return out;
    }
    if (resp.status != 200) {
        out.ec = read_oauth_error(resp.body, resp.status, out.diag);
        co_return out;
    }
    if ((out.ec = jose::jwk_set::parse(resp.body, out.value)))
        out.diag.http_status = resp.status;
    co_return out;
}

// The provider's keys for ID tokens and signed userinfo: cached; refetched once when no key
// matches (rotation).
OIDC_CORO inline asio::awaitable<std::error_code> verify_jwt(state_ptr st, std::string token,
                                                             jose::validation_options vo,
                                                             jose::claims& claims,
                                                             diagnostics& diag) {
    std::shared_ptr<const jose::jwk_set> keys;
    {
        std::lock_guard<std::mutex> lock(st->mu);
        keys = st->jwks;
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!keys) {
            auto r = co_await fetch_jwks_op(st, {});
            if (r.ec) {
                diag = std::move(r.diag);
                co_return r.ec;
            }
            keys = std::make_shared<const jose::jwk_set>(std::move(r.value));
            std::lock_guard<std::mutex> lock(st->mu);
            st->jwks = keys;
        }
        auto ec = jose::validate(token, *keys, vo, claims);
        if (ec != errc::key_not_found || attempt == 1)
            co_return ec;
        keys.reset();
    }
    co_return std::error_code(errc::key_not_found);
}

inline jose::validation_options id_token_options(const client_state& st,
                                                 const provider_metadata& md) {
    jose::validation_options vo;
    vo.kind = jose::validation_options::profile::id_token;
    vo.issuer = st.opts.issuer.empty() ? md.issuer : st.opts.issuer;
    vo.client_id = st.opts.client_id;
    vo.algorithms = st.opts.id_token_algs;
    vo.leeway = st.opts.id_token_leeway;
    vo.require_iat = true;
    vo.require_sub = true;
    vo.require_auth_time = st.opts.require_auth_time;
    return vo;
}

OIDC_CORO inline asio::awaitable<op_result<token_set>>
token_op(state_ptr st, grant g, std::optional<std::string> nonce, bool validate_id,
         std::optional<std::chrono::seconds> max_age = std::nullopt) {
    op_result<token_set> out;
    std::string url;
    if ((out.ec = co_await endpoint(st, &provider_metadata::token_endpoint, url, out.diag)))
        co_return out;
    std::string form;
    if ((out.ec = append_grant_form(g, form)))
        co_return out;
    auto [ec, resp] = co_await auth_post(st, url, std::move(form), true);
    if (ec) {
        out.ec = ec;
        co_return out;
    }
    if ((out.ec = parse_token_response(resp.body, resp.status, clock::now(), out.value, out.diag)))
        co_return out;
    if (nonce && out.value.id_token.empty()) {
        out.ec = errc::token_response_invalid; // an OpenID authentication response needs one
        co_return out;
    }
    if (!out.value.id_token.empty() && (validate_id || nonce)) {
        auto md = co_await discover_op(st);
        if (md.ec) {
            out.ec = md.ec;
            out.diag = std::move(md.diag);
            co_return out;
        }
        // at_hash is optional at the token endpoint (OpenID Connect Core 3.1.3.8): checked
        // when present, with a second pass over the (now cached) keys.
        auto vo = id_token_options(*st, md.value);
        if (nonce)
            vo.nonce = *nonce;
        vo.max_age = max_age;
        jose::claims c;
        out.ec = co_await verify_jwt(st, out.value.id_token, vo, c, out.diag);
        if (!out.ec && !c.at_hash().empty()) {
            vo.access_token = out.value.access_token;
            out.ec = co_await verify_jwt(st, out.value.id_token, std::move(vo), c, out.diag);
        }
        if (out.ec)
            out.value = token_set{};
    }
    co_return out;
}

OIDC_CORO inline asio::awaitable<op_result<token_set>> refresh_op(state_ptr st, token_set old,
                                                                  std::string scope) {
    // Arguments of coroutine calls inside co_await are named variables: GCC 12.2 destroys
    // temporaries there twice (PR 99576).
    grant g = refresh_token_grant{old.refresh_token, std::move(scope), {}};
    const bool validate = st->opts.validate_id_tokens;
    auto r = co_await token_op(st, std::move(g), std::nullopt, validate);
    if (!r.ec && r.value.refresh_token.empty()) {
        // No rotation: the old refresh token stays valid (RFC 6749 6).
        r.value.refresh_token = std::move(old.refresh_token);
        if (!r.value.refresh_expires_at)
            r.value.refresh_expires_at = old.refresh_expires_at;
    }
    co_return r;
}

// WWW-Authenticate: Bearer error="invalid_token", error_description="..." (RFC 6750 3).
inline std::error_code read_bearer_challenge(const http::response& resp, diagnostics& diag) {
    diag.clear();
    diag.http_status = resp.status;
    auto h = resp.headers.get("WWW-Authenticate");
    if (!h)
        return read_oauth_error(resp.body, resp.status, diag);
    auto param = [&](std::string_view name) -> std::string {
        std::string_view s = *h;
        for (std::size_t pos = 0; (pos = s.find(name, pos)) != std::string_view::npos;
             pos += name.size()) {
            if (pos > 0 && s[pos - 1] != ' ' && s[pos - 1] != ',')
                continue;
            std::size_t eq = pos + name.size();
            if (eq >= s.size() || s[eq] != '=')
                continue;
            std::string_view v = s.substr(eq + 1);
            if (!v.empty() && v[0] == '"') {
                auto end = v.find('"', 1);
                return std::string(
                    v.substr(1, end == std::string_view::npos ? v.size() - 1 : end - 1));
            }
            return std::string(v.substr(0, v.find_first_of(", ")));
        }
        return {};
    };
    std::string e = param("error");
    if (e.empty())
        return errc::http_status_unexpected;
    diag.error = untrusted_text(e, 128);
    diag.error_description = untrusted_text(param("error_description"));
    return oauth_error_code(e);
}

inline std::string jwt_subject(std::string_view token) {
    jose::jws j;
    if (jose::jws::parse(token, j))
        return {};
    jose::claims c;
    if (jose::claims::parse(j.payload(), c))
        return {};
    return std::string(c.sub());
}

OIDC_CORO inline asio::awaitable<op_result<userinfo>> userinfo_op(state_ptr st,
                                                                  std::string access_token,
                                                                  std::string expected_sub,
                                                                  bool dpop_token = true) {
    op_result<userinfo> out;
    std::string url;
    if ((out.ec = co_await endpoint(st, &provider_metadata::userinfo_endpoint, url, out.diag)))
        co_return out;
    // A DPoP-bound token goes with a proof of the key (RFC 9449 7.1), and once more with
    // the server's nonce when it asks for one.
    const bool dpop = st->opts.dpop && dpop_token;
    http::response resp;
    for (int attempt = 0;; ++attempt) {
        http::request req = json_get(url);
        req.headers.set("Accept", "application/json, application/jwt");
        req.headers.set("Authorization", (dpop ? "DPoP " : "Bearer ") + access_token);
        if (dpop)
            if ((out.ec = st->dpop_proof("GET", url, access_token, req.headers)))
                co_return out;
        auto [ec, r] = co_await send(st, std::move(req));
        if (ec) {
            out.ec = ec;
            co_return out;
        }
        resp = std::move(r);
        if (!dpop || !st->dpop_nonce_retry(url, resp) || attempt > 0)
            break;
    }
    if (resp.status != 200) {
        out.ec = read_bearer_challenge(resp, out.diag);
        co_return out;
    }
    auto v = std::make_shared<json::value>();
    auto ct = resp.headers.get("Content-Type").value_or("");
    if (ct.substr(0, ct.find(';')).find("jwt") != std::string_view::npos) {
        // Signed userinfo (OpenID Connect Core 5.3.2): iss and aud = client_id checked.
        auto md = co_await discover_op(st);
        if ((out.ec = md.ec))
            co_return out;
        jose::validation_options vo;
        vo.issuer = st->opts.issuer.empty() ? md.value.issuer : st->opts.issuer;
        vo.audiences = {st->opts.client_id};
        vo.algorithms = st->opts.id_token_algs;
        vo.require_exp = false;
        vo.leeway = st->opts.id_token_leeway;
        jose::claims c;
        std::string body = resp.body;
        while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' '))
            body.pop_back();
        if ((out.ec = co_await verify_jwt(st, body, std::move(vo), c, out.diag)))
            co_return out;
        jose::jws j;
        (void)jose::jws::parse(body, j);
        if ((out.ec = json::parse_object(j.payload(), *v)))
            co_return out;
        out.value.was_signed = true;
    } else if ((out.ec = json::parse_object(resp.body, *v))) {
        out.diag.http_status = resp.status;
        co_return out;
    }
    const auto* sub = v->find_string("sub");
    if (!sub || sub->empty()) {
        out.ec = errc::claim_missing;
        co_return out;
    }
    if (!expected_sub.empty() && *sub != expected_sub) {
        out.ec = errc::subject_mismatch; // OpenID Connect Core 5.3.2: MUST NOT be used
        co_return out;
    }
    out.value.sub = *sub;
    out.value.raw_ = std::move(v);
    co_return out;
}

OIDC_CORO inline asio::awaitable<op_result<introspection>>
introspect_op(state_ptr st, std::string token, std::string hint) {
    op_result<introspection> out;
    std::string url;
    if ((out.ec = co_await endpoint(st, &provider_metadata::introspection_endpoint, url, out.diag)))
        co_return out;
    std::string form;
    http::form_append(form, "token", token);
    if (!hint.empty())
        http::form_append(form, "token_type_hint", hint);
    auto [ec, resp] = co_await auth_post(st, url, std::move(form));
    if (ec) {
        out.ec = ec;
        co_return out;
    }
    auto v = std::make_shared<json::value>();
    if ((out.ec = read_json_response(resp, *v, out.diag)))
        co_return out;
    const auto* active = v->find("active");
    if (!active || !active->is_bool()) {
        out.ec = errc::token_response_invalid;
        co_return out;
    }
    auto& r = out.value;
    r.active = active->as_bool();
    auto str = [&](std::string_view n, std::string& dst) {
        if (const auto* s = v->find_string(n))
            dst = *s;
    };
    str("scope", r.scope);
    str("client_id", r.client_id);
    str("username", r.username);
    str("token_type", r.token_type);
    str("sub", r.sub);
    str("iss", r.iss);
    if (const auto* e = v->find("exp"); e && !e->is_null()) {
        std::int64_t secs = 0;
        if (!read_epoch_seconds(*e, secs)) { // not a number, or out of range (1e300)
            out.ec = errc::token_response_invalid;
            co_return out;
        }
        r.exp = clock::time_point(std::chrono::seconds(secs));
    }
    r.raw_ = std::move(v);
    co_return out;
}

OIDC_CORO inline asio::awaitable<op_result<no_value>> revoke_op(state_ptr st, std::string token,
                                                                std::string hint) {
    op_result<no_value> out;
    std::string url;
    if ((out.ec = co_await endpoint(st, &provider_metadata::revocation_endpoint, url, out.diag)))
        co_return out;
    std::string form;
    http::form_append(form, "token", token);
    if (!hint.empty())
        http::form_append(form, "token_type_hint", hint);
    auto [ec, resp] = co_await auth_post(st, url, std::move(form));
    if (ec)
        out.ec = ec;
    else if (resp.status != 200) // RFC 7009 2.2: 200 whether or not the token was valid
        out.ec = read_oauth_error(resp.body, resp.status, out.diag);
    co_return out;
}

OIDC_CORO inline asio::awaitable<op_result<device_authorization>>
device_authorize_op(state_ptr st, std::string scope, params extra) {
    op_result<device_authorization> out;
    std::string url;
    if ((out.ec = co_await endpoint(st, &provider_metadata::device_authorization_endpoint, url,
                                    out.diag)))
        co_return out;
    std::string form;
    if (!scope.empty())
        http::form_append(form, "scope", scope);
    if ((out.ec = append_extra(form, extra)))
        co_return out;
    auto [ec, resp] = co_await auth_post(st, url, std::move(form));
    if (ec) {
        out.ec = ec;
        co_return out;
    }
    out.ec = parse_device_authorization(resp.body, resp.status, clock::now(), out.value, out.diag);
    co_return out;
}

// RFC 9126 2: the authorization request's parameters go to the pushed authorization
// request endpoint, authenticated as the client; the browser gets client_id and the
// request_uri that came back.
OIDC_CORO inline asio::awaitable<op_result<authorization_request>>
push_authorization_op(state_ptr st, authorization_params p, std::string state, std::string nonce,
                      std::string code_verifier) {
    op_result<authorization_request> out;
    auto md = co_await discover_op(st);
    if (md.ec) {
        out.ec = md.ec;
        out.diag = std::move(md.diag);
        co_return out;
    }
    const std::string& url = md.value.pushed_authorization_request_endpoint;
    if (url.empty() || md.value.authorization_endpoint.empty()) {
        out.ec = errc::endpoint_not_supported;
        co_return out;
    }
    authorization_request r;
    std::string form;
    // client_id travels with the client authentication (a form member, or the Basic
    // credentials, beside which the request names it too).
    const bool basic = std::holds_alternative<client_secret_basic>(st->opts.auth);
    if ((out.ec =
             authorization_parameters(st->opts.client_id, p, std::move(state), std::move(nonce),
                                      std::move(code_verifier), r, form, basic)))
        co_return out;
    auto [ec, resp] = co_await auth_post(st, url, std::move(form), true);
    if (ec) {
        out.ec = ec;
        co_return out;
    }
    clock::time_point expires_at;
    if ((out.ec = parse_pushed_authorization_response(resp.body, resp.status, clock::now(),
                                                      r.request_uri, expires_at, out.diag)))
        co_return out;
    r.request_uri_expires_at = expires_at;
    if ((out.ec = build_pushed_authorization_url(md.value.authorization_endpoint,
                                                 st->opts.client_id, r.request_uri, r.url)))
        co_return out;
    out.value = std::move(r);
    co_return out;
}

OIDC_CORO inline asio::awaitable<op_result<token_set>> poll_device_op(state_ptr st,
                                                                      device_authorization da) {
    auto interval = da.interval;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        timer.expires_after(interval);
        auto [tec] = co_await timer.async_wait(net::use_nothrow_awaitable);
        if (tec) {
            op_result<token_set> out;
            out.ec = tec;
            co_return out;
        }
        grant g = device_code_grant{da.device_code, {}};
        auto poll = token_op(st, std::move(g), std::nullopt, st->opts.validate_id_tokens);
        auto r = co_await with_timeout<token_set>(std::move(poll), st->opts.timeout);
        auto d = decide_device_poll(r.ec, interval, clock::now(), da.expires_at);
        if (d.action != device_poll_action::retry) {
            if (d.action == device_poll_action::fail)
                r.ec = d.error;
            co_return r;
        }
        interval = d.interval;
    }
}

} // namespace detail

/// The OAuth 2.0 / OpenID Connect client of one provider.
///
/// Every asynchronous operation below follows the same rules:
/// - Completion token: any Asio token; default `asio::use_awaitable`, with which an error
///   throws oidc::oauth_error (code + the server's diagnostics). With other tokens the
///   handler gets `void(std::error_code, T)`; the overloads taking `diagnostics&` copy the
///   server's error details there (the object must outlive the operation).
/// - Executor: the driver runs on a new strand of the client's executor; the handler runs
///   on its associated executor (default: that strand), never inside the initiating call.
/// - Lifetimes: arguments are copied or moved in; the client may be destroyed while an
///   operation runs (operations share its state), but not its execution context.
/// - Timeout: each operation completes with errc::timed_out after client_options::timeout
///   (the HTTP steps also have their own http::client_options::timeout bounds).
/// - Cancellation: terminal per-operation cancellation (cancellation slot of the handler,
///   parallel_group, awaitable operators) completes with asio::error::operation_aborted.
/// - Errors: the HTTP layer's (errc::timed_out, errc::tls_*, errc::insecure_scheme, ...);
///   an OAuth error response becomes its own code (errc::invalid_grant, ...) with the
///   "error", "error_description", "error_uri" and HTTP status in the diagnostics (marked
///   untrusted); errc::http_status_unexpected for a non-OAuth error status; JSON errors
///   for garbage; errc::endpoint_not_supported when the provider lacks the endpoint.
///   Error texts never contain a secret, password or token.
/// - Thread safety: one client may run any number of operations concurrently from any
///   threads; the discovery and JWKS caches are guarded by a mutex never held across I/O.
class client {
public:
    using executor_type = asio::any_io_executor;

    client(executor_type ex, client_options opts)
        : st_(std::make_shared<detail::client_state>(std::move(ex), std::move(opts))) {}

    executor_type get_executor() const { return st_->ex; }
    const client_options& options() const noexcept { return st_->opts; }
    /// The HTTP client the operations use (shared, e.g. with a jwks_cache).
    http::client& http() noexcept { return st_->http; }
    const http::client& http() const noexcept { return st_->http; }

    /// The provider metadata, once discover() completed or when given in the options.
    std::optional<provider_metadata> metadata() const { return st_->cached_metadata(); }

    /// Fetches and caches the provider metadata (OpenID Connect Discovery 1.0 4, RFC 8414 3);
    /// the document's issuer must equal client_options::issuer exactly
    /// (errc::issuer_metadata_mismatch). Concurrent first calls may each fetch; later calls
    /// complete from the cache. Handler: `void(std::error_code, provider_metadata)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto discover(CompletionToken&& token = {}) {
        return detail::start_op<provider_metadata>(
            st_->ex, st_->opts.timeout, nullptr, [st = st_] { return detail::discover_op(st); },
            std::forward<CompletionToken>(token));
    }

    /// Requests tokens with a grant at the token endpoint (RFC 6749 4.1.3, 4.3, 4.4, 6;
    /// RFC 8628 3.4; RFC 8693; RFC 7523), authenticating the client as configured. An ID
    /// token in the response is validated (client_options::validate_id_tokens).
    /// Handler: `void(std::error_code, token_set)`. Secrets of the grant never appear in
    /// errors.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    requires(!std::is_same_v<std::decay_t<CompletionToken>, diagnostics>) auto get_token(
        grant g, CompletionToken&& token = {}) {
        return get_token_impl(std::move(g), nullptr, std::forward<CompletionToken>(token));
    }
    /// The same, filling `diag` (which must outlive the operation).
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto get_token(grant g, diagnostics& diag, CompletionToken&& token = {}) {
        return get_token_impl(std::move(g), &diag, std::forward<CompletionToken>(token));
    }

    /// The refresh_token grant (RFC 6749 6) with `t.refresh_token`; when the server does not
    /// rotate it, the result keeps the old refresh token (and its expiry).
    /// Handler: `void(std::error_code, token_set)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto refresh(const token_set& t, CompletionToken&& token = {}) {
        return refresh_impl(t, nullptr, std::forward<CompletionToken>(token));
    }
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto refresh(const token_set& t, diagnostics& diag, CompletionToken&& token = {}) {
        return refresh_impl(t, &diag, std::forward<CompletionToken>(token));
    }

    /// Fetches the provider's key set from jwks_uri (RFC 7517 5). For a cache honouring
    /// Cache-Control, see jwks_cache. Handler: `void(std::error_code, jose::jwk_set)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto fetch_jwks(CompletionToken&& token = {}) {
        return fetch_jwks(std::string(), std::forward<CompletionToken>(token));
    }
    /// The same from a given URL (e.g. an OAuthSD-style ".../keys?aud=<client_id>").
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto fetch_jwks(std::string url, CompletionToken&& token = {}) {
        return detail::start_op<jose::jwk_set>(
            st_->ex, st_->opts.timeout, nullptr,
            [st = st_, url = std::move(url)] { return detail::fetch_jwks_op(st, url); },
            std::forward<CompletionToken>(token));
    }

    /// The userinfo endpoint (OpenID Connect Core 5.3) with an access token (Bearer, or
    /// DPoP with a proof when client_options::dpop is set); the
    /// response may be JSON or a signed JWT (signature, iss, aud checked). When
    /// `expected_sub` is non-empty (the ID token's sub), a different sub is
    /// errc::subject_mismatch (5.3.2). A 401 maps the WWW-Authenticate error (RFC 6750 3.1,
    /// e.g. errc::invalid_token). Handler: `void(std::error_code, userinfo)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto userinfo(std::string access_token, std::string expected_sub,
                  CompletionToken&& token = {}) {
        return detail::start_op<oidc::userinfo>(
            st_->ex, st_->opts.timeout, nullptr,
            [st = st_, at = std::move(access_token), sub = std::move(expected_sub)] {
                return detail::userinfo_op(st, at, sub);
            },
            std::forward<CompletionToken>(token));
    }
    /// The same for a token set: its access token, and the sub of its ID token if any. With
    /// client_options::dpop, a token of token_type "DPoP" goes with a DPoP proof, any other
    /// as a Bearer token.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto userinfo(const token_set& t, CompletionToken&& token = {}) {
        return detail::start_op<oidc::userinfo>(
            st_->ex, st_->opts.timeout, nullptr,
            [st = st_, at = t.access_token, sub = detail::jwt_subject(t.id_token),
             dpop = http::iequals(t.token_type, "DPoP")] {
                return detail::userinfo_op(st, at, sub, dpop);
            },
            std::forward<CompletionToken>(token));
    }

    /// Token introspection (RFC 7662 2), authenticated as the client. `hint` is an optional
    /// token_type_hint. Handler: `void(std::error_code, introspection)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto introspect(std::string token_value, std::string hint, CompletionToken&& token = {}) {
        return introspect_impl(std::move(token_value), std::move(hint), nullptr,
                               std::forward<CompletionToken>(token));
    }
    /// The same, copying the server's error details to `diag` (which must outlive the
    /// operation).
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto introspect(std::string token_value, std::string hint, diagnostics& diag,
                    CompletionToken&& token = {}) {
        return introspect_impl(std::move(token_value), std::move(hint), &diag,
                               std::forward<CompletionToken>(token));
    }
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto introspect(std::string token_value, CompletionToken&& token = {}) {
        return introspect(std::move(token_value), std::string(),
                          std::forward<CompletionToken>(token));
    }

    /// Token revocation (RFC 7009 2), authenticated as the client. Success also when the
    /// token was already invalid (2.2). Handler: `void(std::error_code)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto revoke(std::string token_value, std::string hint, CompletionToken&& token = {}) {
        return revoke_impl(std::move(token_value), std::move(hint), nullptr,
                           std::forward<CompletionToken>(token));
    }
    /// The same, copying the server's error details to `diag` (which must outlive the
    /// operation). oidc-provider, for one, answers unsupported_token_type for JWT access
    /// tokens (RFC 7009 2.2.1): errc::oauth_error_other with diag.error set.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto revoke(std::string token_value, std::string hint, diagnostics& diag,
                CompletionToken&& token = {}) {
        return revoke_impl(std::move(token_value), std::move(hint), &diag,
                           std::forward<CompletionToken>(token));
    }
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto revoke(std::string token_value, CompletionToken&& token = {}) {
        return revoke(std::move(token_value), std::string(), std::forward<CompletionToken>(token));
    }

    /// The device authorization request (RFC 8628 3.1-3.2).
    /// Handler: `void(std::error_code, device_authorization)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto device_authorize(std::string scope, CompletionToken&& token = {}) {
        return detail::start_op<device_authorization>(
            st_->ex, st_->opts.timeout, nullptr,
            [st = st_, s = std::move(scope)] { return detail::device_authorize_op(st, s, {}); },
            std::forward<CompletionToken>(token));
    }

    /// Polls the token endpoint with the device code until the user approved (RFC 8628
    /// 3.4-3.5): waits `interval` before each request, keeps polling on
    /// authorization_pending, adds 5 s on slow_down, stops with errc::device_flow_expired on
    /// expired_token or when the device code lifetime ends, with errc::access_denied when the
    /// user refused. The whole operation is bounded by the device code's lifetime (not by
    /// client_options::timeout, which bounds each request). Handler:
    /// `void(std::error_code, token_set)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto poll_device_token(device_authorization da, CompletionToken&& token = {}) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(da.expires_at - clock::now()) +
            st_->opts.timeout;
        if (left < std::chrono::milliseconds(1))
            left = std::chrono::milliseconds(1);
        return detail::start_op<token_set>(
            st_->ex, left, nullptr,
            [st = st_, da = std::move(da)] { return detail::poll_device_op(st, da); },
            std::forward<CompletionToken>(token));
    }

    /// Whether this client binds its tokens to a DPoP key (client_options::dpop).
    bool uses_dpop() const noexcept { return st_->opts.dpop.has_value(); }
    /// DPoP for a request of the caller's own that presents a DPoP-bound access token
    /// (RFC 9449 7.1): sets the `DPoP` header of a `method` request to `url` with a fresh
    /// proof carrying the token's hash and the last nonce of the URL's origin. Does nothing
    /// without client_options::dpop. Errors: those of make_dpop_proof().
    std::error_code dpop_proof(std::string_view method, std::string_view url,
                               std::string_view access_token, http::fields& headers) const {
        return st_->dpop_proof(method, url, access_token, headers);
    }
    /// Keeps the DPoP-Nonce header of a response from `url` (RFC 9449 8, 9) for the next
    /// proofs to that origin. True when the response refused the request for want of that
    /// new nonce (use_dpop_nonce): send the request once more, with a new proof.
    bool dpop_nonce_retry(std::string_view url, const http::response& resp) const {
        return st_->dpop_nonce_retry(url, resp);
    }

    /// The authorization request for the code flow with a fresh state, nonce (openid scope)
    /// and PKCE S256 verifier (RFC 6749 4.1.1, RFC 7636, OpenID Connect Core 3.1.2.1). Keep
    /// the result until the callback. Needs the metadata (discover() first, or given).
    /// Errors: endpoint_not_supported (no metadata / no authorization_endpoint), those of
    /// build_authorization_request.
    std::error_code authorization_url(const authorization_params& p,
                                      authorization_request& out) const {
        auto md = st_->cached_metadata();
        if (!md || md->authorization_endpoint.empty())
            return errc::endpoint_not_supported;
        if (md->require_pushed_authorization_requests)
            return errc::pushed_authorization_required; // push_authorization() instead
        return build_authorization_request(md->authorization_endpoint, st_->opts.client_id, p,
                                           make_state(), make_state(), detail::random_token(32),
                                           out);
    }
    /// The throwing flavour (oidc::oauth_error).
    authorization_request authorization_url(const authorization_params& p) const {
        authorization_request r;
        if (auto ec = authorization_url(p, r))
            throw oauth_error(ec);
        return r;
    }

    /// The authorization request for the code flow, pushed to the provider first (RFC 9126):
    /// the same fresh state, nonce and PKCE verifier as authorization_url(), but the
    /// parameters go to the pushed authorization request endpoint (authenticated as the
    /// client, so the provider knows they come from it and were not changed in the browser),
    /// and `url` carries only client_id and the `request_uri` that came back. Send the browser
    /// there before `request_uri_expires_at`; handle_callback() completes the flow as usual.
    /// Discovers the metadata when needed. Errors: endpoint_not_supported (no
    /// pushed_authorization_request_endpoint or authorization_endpoint), those of
    /// build_authorization_request, the provider's OAuth error (with diagnostics),
    /// token_response_invalid (a response without request_uri or expires_in), transport
    /// errors. Handler: `void(std::error_code, authorization_request)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto push_authorization(authorization_params p, CompletionToken&& token = {}) {
        return push_authorization_impl(std::move(p), nullptr, std::forward<CompletionToken>(token));
    }
    /// The same, copying the provider's error details to `diag` (which must outlive the
    /// operation).
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto push_authorization(authorization_params p, diagnostics& diag,
                            CompletionToken&& token = {}) {
        return push_authorization_impl(std::move(p), &diag, std::forward<CompletionToken>(token));
    }

    /// Completes the code flow from the redirect URL: checks state (errc::state_mismatch,
    /// also for error responses), reads the code or the error response (errc::access_denied,
    /// ... with diagnostics), checks RFC 9207 "iss" when present, exchanges the code with the
    /// PKCE verifier and redirect_uri, and validates the ID token (signature, iss, aud, azp,
    /// exp, iat, nonce, at_hash, and auth_time when the request had a max_age:
    /// errc::auth_time_missing, errc::auth_too_old). Handler: `void(std::error_code, token_set)`.
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto handle_callback(std::string callback_url, const authorization_request& req,
                         CompletionToken&& token = {}) {
        return handle_callback_impl(std::move(callback_url), req, nullptr,
                                    std::forward<CompletionToken>(token));
    }
    template <detail::completion_token_arg CompletionToken = asio::use_awaitable_t<>>
    auto handle_callback(std::string callback_url, const authorization_request& req,
                         diagnostics& diag, CompletionToken&& token = {}) {
        return handle_callback_impl(std::move(callback_url), req, &diag,
                                    std::forward<CompletionToken>(token));
    }

    /// The RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0 section 2), or ""
    /// when the metadata is unknown or lacks end_session_endpoint.
    std::string end_session_url(std::string_view id_token_hint,
                                std::string_view post_logout_redirect_uri,
                                std::string_view state) const {
        auto md = st_->cached_metadata();
        if (!md || md->end_session_endpoint.empty())
            return {};
        return build_end_session_url(md->end_session_endpoint, id_token_hint,
                                     post_logout_redirect_uri, state, st_->opts.client_id);
    }

private:
    template <class CompletionToken>
    auto get_token_impl(grant g, diagnostics* diag, CompletionToken&& token) {
        return detail::start_op<token_set>(
            st_->ex, st_->opts.timeout, diag,
            [st = st_, g = std::move(g)] {
                return detail::token_op(st, g, std::nullopt, st->opts.validate_id_tokens);
            },
            std::forward<CompletionToken>(token));
    }

    template <class CompletionToken>
    auto refresh_impl(const token_set& t, diagnostics* diag, CompletionToken&& token) {
        return detail::start_op<token_set>(
            st_->ex, st_->opts.timeout, diag,
            [st = st_, t] { return detail::refresh_op(st, t, {}); },
            std::forward<CompletionToken>(token));
    }

    template <class CompletionToken>
    auto introspect_impl(std::string token_value, std::string hint, diagnostics* diag,
                         CompletionToken&& token) {
        return detail::start_op<introspection>(
            st_->ex, st_->opts.timeout, diag,
            [st = st_, tv = std::move(token_value), h = std::move(hint)] {
                return detail::introspect_op(st, tv, h);
            },
            std::forward<CompletionToken>(token));
    }

    template <class CompletionToken>
    auto revoke_impl(std::string token_value, std::string hint, diagnostics* diag,
                     CompletionToken&& token) {
        return detail::start_op<detail::no_value>(
            st_->ex, st_->opts.timeout, diag,
            [st = st_, tv = std::move(token_value), h = std::move(hint)] {
                return detail::revoke_op(st, tv, h);
            },
            std::forward<CompletionToken>(token));
    }

    template <class CompletionToken>
    auto push_authorization_impl(authorization_params p, diagnostics* diag,
                                 CompletionToken&& token) {
        return detail::start_op<authorization_request>(
            st_->ex, st_->opts.timeout, diag,
            [st = st_, p = std::move(p), state = make_state(), nonce = make_state(),
             verifier = detail::random_token(32)] {
                return detail::push_authorization_op(st, p, state, nonce, verifier);
            },
            std::forward<CompletionToken>(token));
    }

    template <class CompletionToken>
    auto handle_callback_impl(std::string callback_url, const authorization_request& req,
                              diagnostics* diag, CompletionToken&& token) {
        return detail::start_op<token_set>(
            st_->ex, st_->opts.timeout, diag,
            [st = st_, url = std::move(callback_url), req] { return callback_op(st, url, req); },
            std::forward<CompletionToken>(token));
    }

    OIDC_CORO static asio::awaitable<detail::op_result<token_set>>
    callback_op(detail::state_ptr st, std::string url, authorization_request req) {
        detail::op_result<token_set> out;
        auto md = co_await detail::discover_op(st);
        if (md.ec) {
            out.ec = md.ec;
            out.diag = std::move(md.diag);
            co_return out;
        }
        callback_result cb;
        std::string iss = st->opts.issuer.empty() ? md.value.issuer : st->opts.issuer;
        if ((out.ec = parse_callback(url, req.state, iss, cb, out.diag)))
            co_return out;
        std::optional<std::string> nonce;
        if (!req.nonce.empty())
            nonce = req.nonce;
        grant g =
            authorization_code_grant{std::move(cb.code), req.redirect_uri, req.code_verifier, {}};
        auto r = co_await detail::token_op(st, std::move(g), std::move(nonce), true, req.max_age);
        co_return r;
    }

    std::shared_ptr<detail::client_state> st_;
};

} // namespace oidc
