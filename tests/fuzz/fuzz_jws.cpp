// libFuzzer: JWS compact parsing + verify_signature against a fixed key set (RFC 7515 A.2 RSA,
// A.3 P-256, RFC 8037 Ed25519, an oct key). A forged token that verifies aborts.
#include <oidc/jose/jws.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {
namespace jose = oidc::jose;

const jose::jwk_set& keys() {
    static const jose::jwk_set set = [] {
        jose::jwk_set s;
        const char* doc = R"({"keys":[
 {"kty":"RSA","kid":"rsa","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"},
 {"kty":"EC","kid":"ec","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
 {"kty":"OKP","kid":"ed","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
 {"kty":"oct","kid":"hs","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]})";
        if (jose::jwk_set::parse(doc, s) || s.size() != 4)
            std::abort();
        return s;
    }();
    return set;
}

constexpr jose::alg all[] = {jose::alg::HS256, jose::alg::HS384, jose::alg::HS512, jose::alg::RS256,
                             jose::alg::RS384, jose::alg::RS512, jose::alg::PS256, jose::alg::PS384,
                             jose::alg::PS512, jose::alg::ES256, jose::alg::ES384, jose::alg::ES512,
                             jose::alg::EdDSA};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    jose::jws token;
    if (jose::jws::parse(in, token))
        return 0;
    (void)jose::verify_signature(token, keys(), all);
    // The signature step alone with every key and alg (mismatches must be refused cleanly).
    for (const auto& k : keys().keys())
        (void)jose::verify(token.header().algorithm, k, token.signing_input(), token.signature());
    return 0;
}
