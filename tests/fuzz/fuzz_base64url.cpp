// libFuzzer: strict base64url decoding; whatever decodes must re-encode to the same text.
#include <oidc/jose/base64url.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string out;
    if (!oidc::jose::base64url_decode(in, out)) {
        if (oidc::jose::base64url_encode(out) != in)
            std::abort(); // a non-canonical encoding was accepted
    }
    // Encoding any bytes decodes back to them.
    const std::string enc = oidc::jose::base64url_encode(in);
    std::string back;
    if (oidc::jose::base64url_decode(enc, back) || back != in)
        std::abort();
    return 0;
}
