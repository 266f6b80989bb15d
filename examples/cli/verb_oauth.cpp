// asio-oidc discover | jwks | token | introspect | revoke | userinfo: the OAuth 2.0 / OpenID
// Connect operations of oidc::client from the command line.
#include "verbs.hpp"

#include <oidc/client.hpp>
#include <oidc/error.hpp>
#include <oidc/session.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace oidc_cli {

namespace {

constexpr std::string_view common_options =
    "  --cafile F              extra trusted CA certificates (PEM)\n"
    "  --timeout SECONDS       bound of the whole operation (default 30)\n";

constexpr std::string_view client_options_text =
    "  --issuer ISS            the issuer (discovery: ISS/.well-known/openid-configuration)\n"
    "  --client-id ID          the client id\n"
    "  --client-secret-file F  the client secret (one trailing newline dropped); without it\n"
    "                          the client is public (auth none)\n"
    "  --auth basic|post       how the secret is sent (default basic)\n";

const std::string discover_usage =
    std::string("usage: asio-oidc discover [--cafile F] [--timeout S] ISSUER\n"
                "\nFetches the provider metadata (OpenID Connect Discovery 1.0, exact issuer\n"
                "match) and prints its endpoints as JSON.\n\n") +
    std::string(common_options);

const std::string jwks_usage =
    std::string("usage: asio-oidc jwks [--cafile F] [--timeout S] ISSUER|URL\n"
                "\nPrints the provider's JWK Set (public members) as JSON: from the jwks_uri\n"
                "of ISSUER's metadata, or from URL when discovery does not answer there.\n\n") +
    std::string(common_options);

const std::string token_usage =
    std::string("usage: asio-oidc token --issuer ISS --client-id ID [--client-secret-file F]\n"
                "         --grant password|client_credentials|refresh_token|device_code\n"
                "         [--username U --password-file F] [--refresh-token-file F] [--scope S]\n"
                "         [--token-endpoint URL] [--cafile F] [--timeout S]\n"
                "\nRequests tokens and prints the token response as JSON. device_code runs the\n"
                "device flow: the user code and verification URI go to standard error.\n\n") +
    std::string(client_options_text) +
    "  --grant G               the grant type\n"
    "  --username U            resource owner (password grant)\n"
    "  --password-file F       resource owner password ('-': standard input)\n"
    "  --refresh-token-file F  refresh token ('-': standard input)\n"
    "  --scope S               requested scope\n"
    "  --token-endpoint URL    skip discovery and use this token endpoint\n" +
    std::string(common_options);

const std::string introspect_usage =
    std::string("usage: asio-oidc introspect --issuer ISS --client-id ID [--client-secret-file F]\n"
                "         [--hint access_token|refresh_token] [--cafile F] [--timeout S] TOKEN|-\n"
                "\nToken introspection (RFC 7662); prints the response as JSON.\n\n") +
    std::string(client_options_text) + std::string(common_options);

const std::string revoke_usage =
    std::string("usage: asio-oidc revoke --issuer ISS --client-id ID [--client-secret-file F]\n"
                "         [--hint access_token|refresh_token] [--cafile F] [--timeout S] TOKEN|-\n"
                "\nToken revocation (RFC 7009).\n\n") +
    std::string(client_options_text) + std::string(common_options);

const std::string userinfo_usage =
    std::string("usage: asio-oidc userinfo --issuer ISS [--client-id ID] [--cafile F]\n"
                "         [--timeout S] ACCESS_TOKEN|-\n"
                "\nCalls the userinfo endpoint (OpenID Connect Core 5.3); prints the claims.\n\n") +
    std::string(client_options_text) + std::string(common_options);

const std::string call_usage =
    std::string(
        "usage: asio-oidc call METHOD URL --issuer ISS --client-id ID [--client-secret-file F]\n"
        "         --grant password|client_credentials|refresh_token [--username U\n"
        "         --password-file F] [--scope S] [--token-endpoint URL] [--data BODY]\n"
        "         [--content-type T] [--repeat N] [--cafile F] [--timeout S]\n"
        "\nCalls a protected API through an oidc::session: the grant runs once, every call\n"
        "carries `Authorization: Bearer`, a 401 invalid_token is replayed once with a fresh\n"
        "token. --repeat N sends N concurrent calls sharing the one token. Prints the last\n"
        "response body on stdout and a summary on stderr; exit 1 when a call fails or a\n"
        "status is 400 or above.\n\n") +
    std::string(client_options_text) +
    "  --grant G               the grant the session replays when it needs a token\n"
    "  --data BODY            request body\n"
    "  --content-type T       its Content-Type (default application/json with --data)\n"
    "  --repeat N             number of concurrent calls (1..1000, default 1)\n" +
    std::string(common_options);

struct parsed {
    std::vector<std::pair<std::string, std::string>> opts;
    std::vector<std::string> positional;
    std::string error;

    const std::string* get(std::string_view name) const {
        for (const auto& [k, v] : opts)
            if (k == name)
                return &v;
        return nullptr;
    }
    std::string value(std::string_view name) const {
        const auto* v = get(name);
        return v ? *v : std::string();
    }
};

parsed parse_args(std::span<const std::string_view> args,
                  std::initializer_list<std::string_view> known) {
    parsed p;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view a = args[i];
        if (a.size() > 2 && a.substr(0, 2) == "--") {
            bool ok = false;
            for (auto k : known)
                ok = ok || k == a;
            if (!ok) {
                p.error = "unknown option " + std::string(a);
                return p;
            }
            if (i + 1 >= args.size()) {
                p.error = "missing value for " + std::string(a);
                return p;
            }
            p.opts.emplace_back(std::string(a), std::string(args[++i]));
        } else {
            p.positional.emplace_back(a);
        }
    }
    return p;
}

bool read_secret(const std::string& path, std::string& out) {
    if (!read_file(path, out))
        return false;
    if (!out.empty() && out.back() == '\n')
        out.pop_back();
    if (!out.empty() && out.back() == '\r')
        out.pop_back();
    return true;
}

// Builds client options from --issuer, --client-id, --client-secret-file, --auth, --cafile,
// --timeout; "" on success, else the usage error.
std::string make_options(const parsed& p, oidc::client_options& o) {
    o.issuer = p.value("--issuer");
    o.client_id = p.value("--client-id");
    o.http.ca_file = p.value("--cafile");
    if (const auto* t = p.get("--timeout")) {
        long long s = 0;
        auto r = std::from_chars(t->data(), t->data() + t->size(), s);
        if (r.ec != std::errc() || r.ptr != t->data() + t->size() || s <= 0 || s > 3600)
            return "--timeout wants seconds (1..3600)";
        o.timeout = std::chrono::seconds(s);
    }
    if (const auto* f = p.get("--client-secret-file")) {
        std::string secret;
        if (!read_secret(*f, secret))
            return "cannot read the client secret file";
        std::string how = p.value("--auth");
        if (how.empty() || how == "basic")
            o.auth = oidc::client_secret_basic{secret};
        else if (how == "post")
            o.auth = oidc::client_secret_post{secret};
        else
            return "--auth wants basic or post";
    }
    return {};
}

// --issuer or --token-endpoint (a bare token URL skips discovery) and --client-id.
std::string token_endpoint_options(const parsed& p, oidc::client_options& o) {
    if (o.client_id.empty() || (o.issuer.empty() && !p.get("--token-endpoint")))
        return "--issuer (or --token-endpoint) and --client-id needed";
    if (const auto* te = p.get("--token-endpoint")) {
        oidc::provider_metadata md;
        md.token_endpoint = *te;
        md.issuer = o.issuer;
        o.metadata = md;
        o.validate_id_tokens = !o.issuer.empty();
    }
    return {};
}

// Builds the replayable grant from --grant, --username, --password-file,
// --refresh-token-file, --scope; "" on success, else the usage error.
std::string make_grant(const parsed& p, oidc::grant& grant) {
    std::string g = p.value("--grant");
    std::string scope = p.value("--scope");
    if (g == "password") {
        oidc::password_grant pg;
        pg.username = p.value("--username");
        if (pg.username.empty() || !p.get("--password-file") ||
            !read_secret(p.value("--password-file"), pg.password))
            return "password grant: --username and --password-file";
        pg.scope = scope;
        grant = std::move(pg);
    } else if (g == "client_credentials") {
        oidc::client_credentials_grant cc;
        cc.scope = scope;
        grant = std::move(cc);
    } else if (g == "refresh_token") {
        oidc::refresh_token_grant rt;
        if (!p.get("--refresh-token-file") ||
            !read_secret(p.value("--refresh-token-file"), rt.refresh_token))
            return "refresh_token grant: --refresh-token-file";
        rt.scope = scope;
        grant = std::move(rt);
    } else {
        return "--grant: password, client_credentials, refresh_token or device_code";
    }
    return {};
}

// Runs one operation to completion on a private io_context.
template <class F>
auto run(F f) {
    asio::io_context ioc;
    auto fut = asio::co_spawn(ioc, f(ioc.get_executor()), asio::use_future);
    ioc.run();
    return fut.get();
}

void print_diag(const oidc::diagnostics& d) {
    if (d.http_status != 0)
        std::fprintf(stderr, "http status: %d\n", d.http_status);
    if (!d.error.empty())
        std::fprintf(stderr, "server error (untrusted): %s%s%s\n", d.error.c_str(),
                     d.error_description.empty() ? "" : ": ", d.error_description.c_str());
}

int fail(const std::error_code& ec, const oidc::diagnostics& d) {
    int rc = report(ec);
    print_diag(d);
    return rc;
}

std::string json_string(std::string_view s) {
    oidc::detail::json::value v{s};
    return oidc::detail::json::dump(v);
}

std::string token_json(const oidc::token_set& t) {
    static constexpr std::string_view names[] = {
        "access_token", "token_type", "expires_in",        "refresh_token", "refresh_expires_in",
        "id_token",     "scope",      "issued_token_type", "session_state", "not-before-policy"};
    std::string out = "{";
    for (auto n : names) {
        std::string v = t.member_json(n);
        if (v.empty())
            continue;
        if (out.size() > 1)
            out += ',';
        out += json_string(n) + ":" + v;
    }
    return out + "}";
}

bool token_arg(const parsed& p, std::string& token) {
    if (p.positional.size() != 1)
        return false;
    if (p.positional[0] == "-") {
        if (!read_secret("-", token))
            return false;
    } else {
        token = p.positional[0];
    }
    return !token.empty();
}

} // namespace

int discover_main(std::span<const std::string_view> args) {
    auto p = parse_args(args, {"--cafile", "--timeout"});
    if (!p.error.empty() || p.positional.size() != 1)
        return usage_error(discover_verb, p.error.empty() ? "one ISSUER expected" : p.error);
    oidc::client_options o;
    if (auto e = make_options(p, o); !e.empty())
        return usage_error(discover_verb, e);
    o.issuer = p.positional[0];
    auto [ec, md] =
        run([&](asio::any_io_executor ex)
                -> asio::awaitable<std::tuple<std::error_code, oidc::provider_metadata>> {
            oidc::client c(ex, o);
            co_return co_await c.discover(oidc::net::use_nothrow_awaitable);
        });
    if (ec)
        return fail(ec, {});
    std::string out = "{";
    auto add = [&](std::string_view n, const std::string& v) {
        if (v.empty())
            return;
        if (out.size() > 1)
            out += ',';
        out += json_string(n) + ":" + json_string(v);
    };
    add("issuer", md.issuer);
    add("authorization_endpoint", md.authorization_endpoint);
    add("token_endpoint", md.token_endpoint);
    add("userinfo_endpoint", md.userinfo_endpoint);
    add("jwks_uri", md.jwks_uri);
    add("end_session_endpoint", md.end_session_endpoint);
    add("introspection_endpoint", md.introspection_endpoint);
    add("revocation_endpoint", md.revocation_endpoint);
    add("device_authorization_endpoint", md.device_authorization_endpoint);
    std::printf("%s}\n", out.c_str());
    return exit_ok;
}

int jwks_main(std::span<const std::string_view> args) {
    auto p = parse_args(args, {"--cafile", "--timeout"});
    if (!p.error.empty() || p.positional.size() != 1)
        return usage_error(jwks_verb, p.error.empty() ? "one ISSUER or URL expected" : p.error);
    oidc::client_options o;
    if (auto e = make_options(p, o); !e.empty())
        return usage_error(jwks_verb, e);
    o.issuer = p.positional[0];
    auto [ec, keys] = run([&](asio::any_io_executor ex)
                              -> asio::awaitable<std::tuple<std::error_code, oidc::jose::jwk_set>> {
        oidc::client c(ex, o);
        auto [dec, md] = co_await c.discover(oidc::net::use_nothrow_awaitable);
        if (!dec)
            co_return co_await c.fetch_jwks(oidc::net::use_nothrow_awaitable);
        // Not an issuer: the argument is the key set URL itself.
        co_return co_await c.fetch_jwks(o.issuer, oidc::net::use_nothrow_awaitable);
    });
    if (ec)
        return fail(ec, {});
    std::string out = "{\"keys\":[";
    for (std::size_t i = 0; i < keys.keys().size(); ++i)
        out += (i ? "," : "") + keys.keys()[i].public_json();
    std::printf("%s]}\n", out.c_str());
    return exit_ok;
}

int token_main(std::span<const std::string_view> args) {
    auto p = parse_args(args, {"--issuer", "--client-id", "--client-secret-file", "--auth",
                               "--grant", "--username", "--password-file", "--refresh-token-file",
                               "--scope", "--token-endpoint", "--cafile", "--timeout"});
    if (!p.error.empty() || !p.positional.empty())
        return usage_error(token_verb, p.error.empty() ? "unexpected argument" : p.error);
    oidc::client_options o;
    if (auto e = make_options(p, o); !e.empty())
        return usage_error(token_verb, e);
    if (auto e = token_endpoint_options(p, o); !e.empty())
        return usage_error(token_verb, e);
    std::string scope = p.value("--scope");
    oidc::grant grant;
    bool device = p.value("--grant") == "device_code";
    if (!device) {
        if (auto e = make_grant(p, grant); !e.empty())
            return usage_error(token_verb, e);
    }
    oidc::diagnostics diag;
    auto [ec, t] = run([&](asio::any_io_executor ex)
                           -> asio::awaitable<std::tuple<std::error_code, oidc::token_set>> {
        oidc::client c(ex, o);
        if (!device)
            co_return co_await c.get_token(grant, diag, oidc::net::use_nothrow_awaitable);
        auto [dec, da] = co_await c.device_authorize(scope, oidc::net::use_nothrow_awaitable);
        if (dec)
            co_return std::tuple<std::error_code, oidc::token_set>{dec, {}};
        std::fprintf(stderr, "user code: %s\nverification uri: %s\n", da.user_code.c_str(),
                     (da.verification_uri_complete.empty() ? da.verification_uri
                                                           : da.verification_uri_complete)
                         .c_str());
        std::fflush(stderr);
        co_return co_await c.poll_device_token(da, oidc::net::use_nothrow_awaitable);
    });
    if (ec)
        return fail(ec, diag);
    std::printf("%s\n", token_json(t).c_str());
    return exit_ok;
}

int introspect_main(std::span<const std::string_view> args) {
    auto p = parse_args(args, {"--issuer", "--client-id", "--client-secret-file", "--auth",
                               "--hint", "--cafile", "--timeout"});
    std::string token;
    if (!p.error.empty() || !token_arg(p, token))
        return usage_error(introspect_verb, p.error.empty() ? "one TOKEN expected" : p.error);
    oidc::client_options o;
    if (auto e = make_options(p, o); !e.empty())
        return usage_error(introspect_verb, e);
    auto [ec, r] = run([&](asio::any_io_executor ex)
                           -> asio::awaitable<std::tuple<std::error_code, oidc::introspection>> {
        oidc::client c(ex, o);
        co_return co_await c.introspect(token, p.value("--hint"), oidc::net::use_nothrow_awaitable);
    });
    if (ec)
        return fail(ec, {});
    std::printf("%s\n", r.json().c_str());
    return exit_ok;
}

int revoke_main(std::span<const std::string_view> args) {
    auto p = parse_args(args, {"--issuer", "--client-id", "--client-secret-file", "--auth",
                               "--hint", "--cafile", "--timeout"});
    std::string token;
    if (!p.error.empty() || !token_arg(p, token))
        return usage_error(revoke_verb, p.error.empty() ? "one TOKEN expected" : p.error);
    oidc::client_options o;
    if (auto e = make_options(p, o); !e.empty())
        return usage_error(revoke_verb, e);
    auto [ec] = run([&](asio::any_io_executor ex) -> asio::awaitable<std::tuple<std::error_code>> {
        oidc::client c(ex, o);
        co_return co_await c.revoke(token, p.value("--hint"), oidc::net::use_nothrow_awaitable);
    });
    if (ec)
        return fail(ec, {});
    return exit_ok;
}

int userinfo_main(std::span<const std::string_view> args) {
    auto p = parse_args(args, {"--issuer", "--client-id", "--client-secret-file", "--auth",
                               "--cafile", "--timeout"});
    std::string token;
    if (!p.error.empty() || !token_arg(p, token))
        return usage_error(userinfo_verb, p.error.empty() ? "one ACCESS_TOKEN expected" : p.error);
    oidc::client_options o;
    if (auto e = make_options(p, o); !e.empty())
        return usage_error(userinfo_verb, e);
    auto [ec, ui] = run([&](asio::any_io_executor ex)
                            -> asio::awaitable<std::tuple<std::error_code, oidc::userinfo>> {
        oidc::client c(ex, o);
        co_return co_await c.userinfo(token, std::string(), oidc::net::use_nothrow_awaitable);
    });
    if (ec)
        return fail(ec, {});
    std::printf("%s\n", ui.json().c_str());
    return exit_ok;
}

int call_main(std::span<const std::string_view> args) {
    auto p = parse_args(args, {"--issuer", "--client-id", "--client-secret-file", "--auth",
                               "--grant", "--username", "--password-file", "--refresh-token-file",
                               "--scope", "--token-endpoint", "--cafile", "--timeout", "--data",
                               "--content-type", "--repeat"});
    if (!p.error.empty() || p.positional.size() != 2)
        return usage_error(call_verb, p.error.empty() ? "METHOD and URL expected" : p.error);
    oidc::client_options o;
    if (auto e = make_options(p, o); !e.empty())
        return usage_error(call_verb, e);
    if (auto e = token_endpoint_options(p, o); !e.empty())
        return usage_error(call_verb, e);
    oidc::grant grant;
    if (auto e = make_grant(p, grant); !e.empty())
        return usage_error(call_verb, e);
    static constexpr std::pair<std::string_view, oidc::http::verb> methods[] = {
        {"GET", oidc::http::verb::get},        {"POST", oidc::http::verb::post},
        {"PUT", oidc::http::verb::put},        {"PATCH", oidc::http::verb::patch},
        {"DELETE", oidc::http::verb::delete_}, {"HEAD", oidc::http::verb::head}};
    oidc::http::request req;
    bool known = false;
    for (const auto& [name, v] : methods)
        if (name == p.positional[0]) {
            req.method = v;
            known = true;
        }
    if (!known)
        return usage_error(call_verb, "METHOD: GET, POST, PUT, PATCH, DELETE or HEAD");
    req.target = p.positional[1];
    if (const auto* d = p.get("--data")) {
        req.body = *d;
        std::string ct = p.value("--content-type");
        req.headers.set("Content-Type", ct.empty() ? "application/json" : ct);
    }
    int repeat = 1;
    if (const auto* r = p.get("--repeat")) {
        auto res = std::from_chars(r->data(), r->data() + r->size(), repeat);
        if (res.ec != std::errc() || res.ptr != r->data() + r->size() || repeat < 1 ||
            repeat > 1000)
            return usage_error(call_verb, "--repeat wants 1..1000");
    }

    struct outcome {
        std::error_code ec;
        int status = 0;
        std::string body;
    };
    std::vector<outcome> results(static_cast<std::size_t>(repeat));
    int token_requests = 0;
    asio::io_context ioc;
    {
        oidc::client c(ioc.get_executor(), o);
        oidc::session_options so;
        so.on_event = [&token_requests](const oidc::session_event& e) {
            if (e.kind == oidc::session_event_kind::acquired ||
                e.kind == oidc::session_event_kind::refreshed)
                ++token_requests;
        };
        auto s = std::make_shared<oidc::session>(oidc::client_token_source(c, grant), so);
        auto left = std::make_shared<int>(repeat);
        for (auto& slot : results) {
            s->call(req, [&slot, s, left](std::error_code ec, oidc::http::response resp) mutable {
                slot.ec = ec;
                slot.status = resp.status;
                slot.body = std::move(resp.body);
                if (--*left == 0)
                    s.reset(); // the last call ends the session
            });
        }
    }
    ioc.run();

    int worst = 0;
    std::error_code first_error;
    for (const auto& r : results) {
        if (r.ec && !first_error)
            first_error = r.ec;
        worst = std::max(worst, r.status);
    }
    std::fprintf(stderr, "calls: %d, token requests: %d, highest status: %d\n", repeat,
                 token_requests, worst);
    if (first_error)
        return report(first_error);
    std::fwrite(results.back().body.data(), 1, results.back().body.size(), stdout);
    std::fputc('\n', stdout);
    if (worst >= 400)
        return report(oidc::errc::http_status_unexpected);
    return exit_ok;
}

const verb discover_verb{"discover", "fetch provider metadata (OpenID Discovery)", discover_usage,
                         discover_main};
const verb jwks_verb{"jwks", "print a provider's JWK Set", jwks_usage, jwks_main};
const verb token_verb{"token", "request tokens (password, client_credentials, refresh, device)",
                      token_usage, token_main};
const verb introspect_verb{"introspect", "token introspection (RFC 7662)", introspect_usage,
                           introspect_main};
const verb revoke_verb{"revoke", "token revocation (RFC 7009)", revoke_usage, revoke_main};
const verb userinfo_verb{"userinfo", "call the userinfo endpoint", userinfo_usage, userinfo_main};
const verb call_verb{"call", "call a protected API through a session (bearer token, refresh)",
                     call_usage, call_main};

} // namespace oidc_cli
