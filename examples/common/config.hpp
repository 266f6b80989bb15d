// asio-oidc examples: the one configuration reader every example uses.
//
// A setting comes from, in this order: its command-line flag (`--name value`), its environment
// variable, the provider.env file of the local test provider (`--provider-env FILE` or
// $OIDC_TEST_ENV; KEY=VALUE lines, see tests/integration/provider/README.md), then the
// example's embedded default. Secrets (passwords, client secrets) come from a file named by a
// flag or variable (its first line), or from provider.env: never from the command line.
//
// Every example also understands:
//   --provider-env FILE  ($OIDC_TEST_ENV)      the local test provider's settings
//   --cafile PEM         ($OIDC_CAFILE)        extra trusted CA certificates (default: the
//                                              provider's test CA, else the system store only)
//   --allow-http         ($OIDC_ALLOW_HTTP=1)  accept plain http:// URLs, to loopback hosts only
//   --help               the settings of the example and where each one comes from
// A flag that no setting of the example reads is an error, as is a malformed number or URL.
#pragma once

#include <oidc/client.hpp>
#include <oidc/http/client.hpp>
#include <oidc/http/url.hpp>

#include <asio/ip/address.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oidc_example {

/// KEY=VALUE lines (the value is everything after the first '='; '#' starts a comment line).
inline std::map<std::string, std::string, std::less<>> read_env_file(const std::string& path) {
    std::map<std::string, std::string, std::less<>> m;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos && eq > 0 && line[0] != '#')
            m[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return m;
}

/// The first line of a file, without its line end; false when the file cannot be read.
inline bool read_first_line(const std::string& path, std::string& out) {
    std::ifstream in(path);
    if (!in)
        return false;
    std::getline(in, out);
    if (!out.empty() && out.back() == '\r')
        out.pop_back();
    return true;
}

/// Is `host` (as oidc::http::parse_url gives it) a loopback host?
inline bool is_loopback_host(std::string_view host) {
    if (host == "localhost")
        return true;
    std::error_code ec;
    auto a = asio::ip::make_address(std::string(host), ec);
    return !ec && a.is_loopback();
}

/// Where the settings of one kind of client come from: its environment variable and its
/// entries in the test provider's provider.env (client id, secret), and the default id.
struct client_kind {
    std::string_view id_env, id_key, id_default, secret_key;
};
/// The test provider's clients (tests/integration/provider/README.md).
inline constexpr client_kind public_client{"OIDC_CLIENT_ID", "OIDC_TEST_PUBLIC_CLIENT_ID",
                                           "ea-api-edge", ""};
inline constexpr client_kind service_client{"OIDC_SERVICE_CLIENT_ID", "OIDC_TEST_BASIC_CLIENT_ID",
                                            "eat-service-basic", "OIDC_TEST_BASIC_CLIENT_SECRET"};
inline constexpr client_kind web_client{"OIDC_WEB_CLIENT_ID", "OIDC_TEST_WEB_CLIENT_ID", "eat-web",
                                        "OIDC_TEST_WEB_CLIENT_SECRET"};
inline constexpr client_kind device_client{"OIDC_DEVICE_CLIENT_ID", "OIDC_TEST_DEVICE_CLIENT_ID",
                                           "eat-device", ""};

/// What every client example needs to reach its provider.
struct client_settings {
    std::string issuer;
    std::string client_id;
    std::string client_secret; ///< empty: a public client
    oidc::http::client_options http;

    /// Options of an oidc::client for this provider and client (discovery from the issuer):
    /// client_secret_basic with a secret, else a public client; the CA file and --allow-http.
    oidc::client_options client_options() const {
        oidc::client_options o;
        o.issuer = issuer;
        o.client_id = client_id;
        if (client_secret.empty())
            o.auth = oidc::auth_none{};
        else
            o.auth = oidc::client_secret_basic{client_secret};
        o.http = http;
        return o;
    }
};

/// The settings of one run of an example. The constructor reads the command line; then the
/// example reads each setting (which also documents it for --help); then ok() reports the
/// first problem (an unknown flag, a bad number or URL, a missing setting) with the usage,
/// or prints the usage and exits on --help.
class config {
public:
    /// `argv`: `--name value` pairs and the value-less `switches` (without their dashes).
    /// `about`: printed under the usage line.
    config(std::string program, int argc, char** argv,
           std::initializer_list<std::string_view> switches = {}, std::string about = {})
        : program_(std::move(program)), about_(std::move(about)) {
        for (int i = 1; i < argc; ++i) {
            std::string_view a = argv[i];
            if (a == "--help" || a == "-h") {
                help_ = true;
                continue;
            }
            if (a.size() < 3 || a.substr(0, 2) != "--") {
                fail("unexpected argument " + std::string(a));
                continue;
            }
            std::string name(a.substr(2));
            bool is_switch = name == "allow-http";
            for (auto sw : switches)
                is_switch = is_switch || sw == name;
            if (is_switch)
                switches_.insert(name);
            else if (i + 1 < argc)
                flags_[name] = argv[++i];
            else
                fail("--" + name + " needs a value");
        }
        std::string env_file = get("provider-env", "OIDC_TEST_ENV", {}, {}, "FILE");
        if (!env_file.empty()) {
            provider_ = read_env_file(env_file);
            if (provider_.empty())
                fail("cannot read the provider settings " + env_file);
            auto slash = env_file.rfind('/');
            provider_dir_ = slash == std::string::npos ? "." : env_file.substr(0, slash);
        }
        allow_http_ = has("allow-http") || env("OIDC_ALLOW_HTTP") == "1";
        help_lines_.back() += "$OIDC_ALLOW_HTTP=1: plain http:// URLs, to loopback hosts only";
        cafile_ = get("cafile", "OIDC_CAFILE", "OIDC_TEST_CA", {}, "PEM");
    }

    /// A setting: flag > environment variable `env_var` > provider.env `provider_key` >
    /// `fallback` (an empty name skips that source). `value_name` is for --help.
    std::string get(std::string_view flag, std::string_view env_var,
                    std::string_view provider_key = {}, std::string fallback = {},
                    std::string_view value_name = "VALUE") {
        document(flag, value_name, env_var, provider_key, fallback);
        if (auto f = flags_.find(flag); f != flags_.end())
            return f->second;
        if (auto v = env(env_var); !v.empty())
            return v;
        if (!provider_key.empty())
            if (auto p = provider_.find(provider_key); p != provider_.end() && !p->second.empty())
                return p->second;
        return fallback;
    }

    /// A secret: the first line of the file named by `--file_flag` / $file_env, else the
    /// value of `provider_key` in provider.env (the local test provider's demo secrets).
    std::string secret(std::string_view file_flag, std::string_view file_env,
                       std::string_view provider_key = {}) {
        // (Documented with the provider key, which is where the value comes from otherwise.)
        document(file_flag, "FILE", file_env, provider_key, {});
        std::string file = get(file_flag, file_env, {}, {}, "FILE");
        std::string s;
        if (!file.empty()) {
            if (!read_first_line(file, s))
                fail("cannot read --" + std::string(file_flag) + " " + file);
            return s;
        }
        return provider(provider_key);
    }

    /// A whole number in [lo, hi].
    long long number(std::string_view flag, std::string_view env_var, long long fallback,
                     long long lo, long long hi) {
        std::string v = get(flag, env_var, {}, std::to_string(fallback), "N");
        char* end = nullptr;
        long long n = std::strtoll(v.c_str(), &end, 10);
        if (end == v.c_str() || *end != '\0' || n < lo || n > hi) {
            fail("--" + std::string(flag) + " wants a number from " + std::to_string(lo) + " to " +
                 std::to_string(hi));
            return fallback;
        }
        return n;
    }

    /// A URL setting: https://, or http:// to a loopback host with --allow-http. Empty stays
    /// empty (the caller decides whether it is required).
    std::string url(std::string_view flag, std::string_view env_var,
                    std::string_view provider_key = {}, std::string fallback = {}) {
        std::string v = get(flag, env_var, provider_key, std::move(fallback), "URL");
        check_url(flag, v);
        return v;
    }

    /// Checks a URL the example derived itself (same rules as url()).
    void check_url(std::string_view what, const std::string& v) {
        if (v.empty())
            return;
        oidc::http::url u;
        if (oidc::http::parse_url(v, u)) {
            fail("--" + std::string(what) + ": not a URL: " + v);
        } else if (u.scheme == "http" && !(allow_http_ && is_loopback_host(u.host))) {
            fail("--" + std::string(what) + ": " + v +
                 (allow_http_ ? ": plain http:// only to a loopback host"
                              : ": plain http:// needs --allow-http (loopback hosts only)"));
        }
    }

    /// Reads --issuer ($OIDC_ISSUER), --client-id, --client-secret-file
    /// ($OIDC_CLIENT_SECRET_FILE) with the sources of `kind`, and the HTTP options. Requires
    /// an issuer, and a secret when `kind` has one in provider.env.
    void read_client(client_settings& c, const client_kind& kind) {
        c.issuer = url("issuer", "OIDC_ISSUER", "OIDC_TEST_ISSUER");
        c.client_id = get("client-id", kind.id_env, kind.id_key, std::string(kind.id_default));
        if (!kind.secret_key.empty())
            c.client_secret =
                secret("client-secret-file", "OIDC_CLIENT_SECRET_FILE", kind.secret_key);
        c.http = http_options();
        require(!c.issuer.empty(), "need an issuer (--issuer, $OIDC_ISSUER or --provider-env)");
        require(kind.secret_key.empty() || !c.client_secret.empty(),
                "need a client secret (--client-secret-file)");
    }

    /// Was the value-less flag `--name` given?
    bool has(std::string_view name) {
        document(name, {}, {}, {}, {});
        return switches_.count(std::string(name)) != 0;
    }

    /// A value of provider.env ("" when absent or when no provider.env was given).
    std::string provider(std::string_view key) const {
        if (key.empty())
            return {};
        auto p = provider_.find(key);
        return p == provider_.end() ? std::string() : p->second;
    }
    /// The folder of provider.env ("" without one): the provider's pki/ lives there.
    const std::string& provider_dir() const noexcept { return provider_dir_; }

    const std::string& cafile() const noexcept { return cafile_; }
    bool allow_http() const noexcept { return allow_http_; }

    /// HTTP client options of the example: the CA file, and plain http:// when allowed
    /// (every URL the example reads went through url()/check_url(): loopback only).
    oidc::http::client_options http_options() const {
        oidc::http::client_options o;
        o.ca_file = cafile_;
        o.allow_insecure_http = allow_http_;
        return o;
    }

    /// Records a problem unless `condition` holds.
    void require(bool condition, std::string problem) {
        if (!condition)
            fail(std::move(problem));
    }

    /// With --help: prints the usage and exits (status 0). Else true when the configuration
    /// is complete; false after printing the problem and the usage on stderr: a flag that no
    /// setting read, else the first problem found.
    bool ok() const {
        if (help_) {
            print_usage(std::cout);
            std::exit(0);
        }
        std::string problem; // an unknown flag first: it may be a misspelt required one
        for (const auto& [name, value] : flags_)
            if (problem.empty() && !documented_.count(name))
                problem = "unknown option --" + name;
        for (const auto& name : switches_)
            if (problem.empty() && !documented_.count(name))
                problem = "unknown option --" + name;
        if (problem.empty())
            problem = problem_;
        if (problem.empty())
            return true;
        std::cerr << program_ << ": " << problem << "\n";
        print_usage(std::cerr);
        return false;
    }

private:
    static std::string env(std::string_view name) {
        if (name.empty())
            return {};
        const char* v = std::getenv(std::string(name).c_str());
        return v ? v : "";
    }
    void fail(std::string problem) {
        if (problem_.empty())
            problem_ = std::move(problem);
    }
    // One --help line per setting: where its value comes from (never a value of provider.env).
    void document(std::string_view flag, std::string_view value_name, std::string_view env_var,
                  std::string_view provider_key, std::string_view fallback) {
        if (!documented_.insert(std::string(flag)).second)
            return;
        std::string line = "  --" + std::string(flag);
        if (!value_name.empty())
            line += " " + std::string(value_name);
        line.resize(std::max<std::size_t>(line.size() + 1, 28), ' ');
        std::string from;
        auto add = [&from](std::string_view what, std::string_view v) {
            if (!v.empty())
                from += (from.empty() ? "" : ", ") + std::string(what) + std::string(v);
        };
        add("$", env_var);
        add("provider.env ", provider_key);
        add("default ", fallback);
        help_lines_.push_back(line + from);
    }
    void print_usage(std::ostream& out) const {
        out << "usage: " << program_ << " [options]\n";
        if (!about_.empty())
            out << about_ << "\n";
        out << "options (flag > environment > provider.env > default; secrets from files):\n";
        for (const auto& l : help_lines_)
            out << l << "\n";
    }

    std::string program_, about_;
    std::map<std::string, std::string, std::less<>> flags_;
    std::set<std::string> switches_;
    std::map<std::string, std::string, std::less<>> provider_;
    std::string provider_dir_, cafile_, problem_;
    bool allow_http_ = false;
    bool help_ = false;
    std::set<std::string, std::less<>> documented_;
    std::vector<std::string> help_lines_;
};

} // namespace oidc_example
