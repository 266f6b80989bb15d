// The compact JWS examples of RFC 7515 appendix A, RFC 8037 and RFC 7520 section 4
// (tests/fixtures/rfc/jws_examples.json): all verify, and a one-bit flip of each fails.
#include <oidc/detail/json.hpp>
#include <oidc/jose/jws.hpp>

#include "catch.hpp"
#include "fixtures.hpp"

#include <iostream>

namespace jose = oidc::jose;
namespace json = oidc::detail::json;
using oidc::errc;

namespace {

json::array load_examples() {
    json::value v;
    REQUIRE_FALSE(
        json::parse_object("{\"e\":" + oidc_test::read_fixture("rfc/jws_examples.json") + "}", v));
    return v.find("e")->as_array();
}

std::string compact_of(const json::value& ex) {
    std::string compact = *ex.find_string("compact");
    if (ex.find("detached_payload")->as_bool()) {
        // RFC 7520 4.5: the payload travels separately; put it back into the empty part.
        const auto d1 = compact.find('.');
        REQUIRE(compact.substr(d1, 2) == "..");
        compact.insert(d1 + 1, *ex.find_string("payload_b64"));
    }
    return compact;
}

} // namespace

TEST_CASE("rfc examples: all 12 verify and a one-bit flip fails", "[jose][rfc]") {
    const json::array examples = load_examples();
    REQUIRE(examples.size() == 12);
    int verified = 0, flips = 0;
    for (const auto& ex : examples) {
        const std::string name = *ex.find_string("name");
        INFO(name);
        const auto a = jose::alg_from_string(*ex.find_string("alg"));
        REQUIRE(a);
        jose::jwk key;
        REQUIRE_FALSE(jose::jwk::parse(json::dump(*ex.find("jwk")), key));
        jose::jwk_set keys;
        keys.add(key);
        const std::string compact = compact_of(ex);
        jose::jws token;
        REQUIRE_FALSE(jose::jws::parse(compact, token));
        CHECK(token.header().algorithm == *a);
        CHECK(token.header_json() == *ex.find_string("protected_header_json"));
        CHECK(token.payload() == *ex.find_string("payload_expected"));
        const jose::alg allowed[] = {*a};
        const jose::jwk* used = nullptr;
        CHECK_FALSE(jose::verify_signature(token, keys, allowed, &used));
        CHECK(used == &keys.keys()[0]);
        ++verified;

        // Flip every bit position of the signature in turn (sampled) and the payload.
        const std::string sig(token.signature());
        for (std::size_t bit = 0; bit < sig.size() * 8; bit += 37) {
            std::string bad = sig;
            bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
            CHECK(jose::verify(*a, key, token.signing_input(), bad) == errc::signature_invalid);
            ++flips;
        }
        std::string input(token.signing_input());
        input[input.size() - 2] = static_cast<char>(input[input.size() - 2] ^ 1);
        CHECK(jose::verify(*a, key, input, sig) == errc::signature_invalid);
        ++flips;

        // The private key (when given) signs tokens that the public key verifies.
        const json::value* priv = ex.find("jwk_private");
        if (priv && priv->is_object()) {
            jose::jwk pk;
            REQUIRE_FALSE(jose::jwk::parse(json::dump(*priv), pk));
            CHECK(pk.has_private());
            std::string again;
            REQUIRE_FALSE(jose::sign_compact(*a, pk, token.payload(), again));
            jose::jws t2;
            REQUIRE_FALSE(jose::jws::parse(again, t2));
            CHECK_FALSE(jose::verify_signature(t2, keys, allowed));
        }
    }
    std::cout << "rfc examples: " << verified << " verified, " << flips << " flips rejected\n";
    CHECK(verified == 12);
}
