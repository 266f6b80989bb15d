// libFuzzer: JWK Set parsing; every imported key must give a thumbprint and a public JWK that
// imports again with the same thumbprint.
#include <oidc/jose/jwks.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace jose = oidc::jose;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    jose::jwk_set set;
    if (jose::jwk_set::parse(in, set)) {
        jose::jwk k;
        (void)jose::jwk::parse(in, k);
        return 0;
    }
    for (const auto& k : set.keys()) {
        const std::string tp = k.thumbprint();
        if (tp.size() != 43)
            std::abort();
        if (k.kty() == jose::key_type::oct)
            continue;
        jose::jwk again;
        if (jose::jwk::parse(k.public_json(), again) || again.thumbprint() != tp)
            std::abort();
        for (int a = 1; a < static_cast<int>(jose::alg_count); ++a)
            (void)set.select(k.kid(), static_cast<jose::alg>(a));
    }
    return 0;
}
