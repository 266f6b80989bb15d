// asio-oidc verify: validates a JWT / ID token against a JWK Set file and prints its claims.
#include "verbs.hpp"

#include <oidc/error.hpp>
#include <oidc/jose/jwt.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace oidc_cli {

namespace {

constexpr std::string_view verify_usage =
    "usage: asio-oidc verify --jwks FILE --issuer ISS --audience AUD [--trusted-audience AUD]...\n"
    "         [--now EPOCH] [--leeway SECONDS] [--nonce N] [--max-age SECONDS]\n"
    "         [--algs RS256,ES256,...]\n"
    "         [--client-secret-file F] [--access-token T] [--code C] [--typ TYP]\n"
    "         [--id-token | --access-token-profile] TOKEN|-\n"
    "\n"
    "Verifies the signature of a compact JWS JWT with a key of the JWK Set and checks its\n"
    "claims (RFC 7519; OpenID Connect Core 3.1.3.7 with --id-token; RFC 9068 with\n"
    "--access-token-profile). TOKEN '-' reads the token from standard input.\n"
    "\n"
    "  --jwks FILE              JWK Set (JSON) with the verification keys\n"
    "  --issuer ISS             expected \"iss\" (exact)\n"
    "  --audience AUD           accepted audience (repeatable); with --id-token the first one\n"
    "                           is the client id\n"
    "  --trusted-audience AUD   further audience allowed in an ID token's \"aud\" (repeatable)\n"
    "  --now EPOCH              current time in seconds since the epoch (default: the clock)\n"
    "  --leeway SECONDS         allowed clock skew (default 60)\n"
    "  --nonce N                expected \"nonce\"\n"
    "  --max-age SECONDS        the request's max_age: \"auth_time\" required, and no older\n"
    "                           (auth_too_old means the user must log in again)\n"
    "  --algs LIST              allowed algorithms (default RS256, plus HS256 with a secret)\n"
    "  --client-secret-file F   client secret whose UTF-8 octets are the HS* key (OpenID\n"
    "                           Connect Core 10.1); one trailing newline is dropped\n"
    "  --access-token T         check \"at_hash\" against this access token\n"
    "  --code C                 check \"c_hash\" against this authorization code\n"
    "  --typ TYP                expected header \"typ\" (e.g. at+jwt)\n"
    "  --id-token               apply the OpenID Connect ID-token rules\n"
    "  --access-token-profile   apply RFC 9068 (typ at+jwt)\n"
    "\n"
    "Exit status: 0 valid (claims as JSON on standard output), 1 rejected (one line\n"
    "'error: <code>: <message>' on standard error), 2 bad usage.\n";

bool parse_int(std::string_view s, long long& out) {
    if (s.empty())
        return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

void trim_token(std::string& t) {
    while (!t.empty() &&
           (t.back() == '\n' || t.back() == '\r' || t.back() == ' ' || t.back() == '\t'))
        t.pop_back();
    std::size_t i = 0;
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        ++i;
    t.erase(0, i);
}

} // namespace

int verify_main(std::span<const std::string_view> args) {
    const verb& v = verify_verb;
    using oidc::jose::validation_options;
    validation_options opt;
    std::optional<std::string> jwks_file, secret_file, token_arg;
    std::optional<long long> now;
    bool algs_given = false;

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view a = args[i];
        auto value = [&](std::string_view& out) {
            if (i + 1 >= args.size())
                return false;
            out = args[++i];
            return true;
        };
        std::string_view val;
        if (a == "--id-token") {
            opt.kind = validation_options::profile::id_token;
        } else if (a == "--access-token-profile") {
            opt.kind = validation_options::profile::access_token;
        } else if (a == "-" || a.empty() || a[0] != '-') {
            if (token_arg)
                return usage_error(v, "more than one token given");
            token_arg = std::string(a);
        } else if (!value(val)) {
            return usage_error(v, "missing value after " + std::string(a.substr(0, 32)));
        } else if (a == "--jwks") {
            jwks_file = std::string(val);
        } else if (a == "--issuer") {
            opt.issuer = val;
        } else if (a == "--audience") {
            opt.audiences.emplace_back(val);
        } else if (a == "--trusted-audience") {
            opt.trusted_audiences.emplace_back(val);
        } else if (a == "--now") {
            long long n = 0;
            if (!parse_int(val, n))
                return usage_error(v, "--now needs an integer number of seconds");
            now = n;
        } else if (a == "--leeway") {
            long long n = 0;
            if (!parse_int(val, n) || n < 0)
                return usage_error(v, "--leeway needs a non-negative integer");
            opt.leeway = std::chrono::seconds(n);
        } else if (a == "--nonce") {
            opt.nonce = std::string(val);
        } else if (a == "--max-age") {
            long long n = 0;
            if (!parse_int(val, n) || n < 0)
                return usage_error(v, "--max-age needs a non-negative integer");
            opt.max_age = std::chrono::seconds(n);
        } else if (a == "--algs") {
            algs_given = true;
            opt.algorithms.clear();
            while (!val.empty()) {
                auto comma = val.find(',');
                auto name = val.substr(0, comma);
                auto al = oidc::jose::alg_from_string(name);
                if (!al || *al == oidc::jose::alg::none)
                    return usage_error(v, "unknown algorithm in --algs: " +
                                              std::string(name.substr(0, 16)));
                opt.algorithms.push_back(*al);
                if (comma == std::string_view::npos)
                    break;
                val.remove_prefix(comma + 1);
            }
            if (opt.algorithms.empty())
                return usage_error(v, "--algs needs at least one algorithm");
        } else if (a == "--client-secret-file") {
            secret_file = std::string(val);
        } else if (a == "--access-token") {
            opt.access_token = val;
        } else if (a == "--code") {
            opt.code = val;
        } else if (a == "--typ") {
            opt.typ = val;
        } else {
            return usage_error(v, "unknown option " + std::string(a.substr(0, 32)));
        }
    }
    if (!token_arg)
        return usage_error(v, "no token given");
    if (!jwks_file && !secret_file)
        return usage_error(v, "--jwks FILE (or --client-secret-file F) is required");
    if (opt.issuer.empty())
        return usage_error(v, "--issuer is required");
    if (opt.audiences.empty())
        return usage_error(v, "--audience is required");
    if (opt.kind == validation_options::profile::id_token)
        opt.client_id = opt.audiences.front();
    if (now) {
        auto tp = std::chrono::system_clock::time_point(std::chrono::seconds(*now));
        opt.clock = [tp] {
            return tp;
        };
    }

    oidc::jose::jwk_set keys;
    if (jwks_file) {
        std::string text;
        if (!read_file(*jwks_file, text))
            return usage_error(v, "cannot read the JWKS file");
        if (auto ec = oidc::jose::jwk_set::parse(text, keys))
            return report(ec);
    }
    if (secret_file) {
        std::string secret;
        if (!read_file(*secret_file, secret))
            return usage_error(v, "cannot read the client secret file");
        if (!secret.empty() && secret.back() == '\n')
            secret.pop_back();
        if (!secret.empty() && secret.back() == '\r')
            secret.pop_back();
        if (secret.empty())
            return usage_error(v, "the client secret file is empty");
        keys.add(oidc::jose::jwk::from_secret(secret));
        if (!algs_given)
            opt.algorithms.push_back(oidc::jose::alg::HS256);
    }

    std::string token;
    if (*token_arg == "-") {
        if (!read_file("-", token))
            return usage_error(v, "cannot read the token from standard input");
    } else {
        token = *token_arg;
    }
    trim_token(token);

    oidc::jose::claims claims;
    if (auto ec = oidc::jose::validate(token, keys, opt, claims))
        return report(ec);
    std::string out = claims.to_json();
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? exit_ok : exit_rejected;
}

const verb verify_verb{"verify", "validate a JWT / ID token with a JWK Set, print its claims",
                       verify_usage, verify_main};

} // namespace oidc_cli
