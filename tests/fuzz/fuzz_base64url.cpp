// libFuzzer: strict base64url decoding; whatever decodes must re-encode to the same text.
#include <oidc/jose/base64url.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string out;
    // The vector decoder (when the CPU has it) and the scalar one agree on every input.
    if (size % 4 != 1) {
        const std::size_t len = oidc::jose::base64url_decoded_size(size);
        std::string a(len + 1, '\0'), b(len + 1, '\0');
        const bool ok_a = oidc::jose::detail::b64url_decode_scalar(data, size, a.data());
        const bool ok_b = oidc::jose::detail::b64url_decode_fast(data, size, b.data());
        if (ok_a != ok_b || (ok_a && a.compare(0, len, b, 0, len) != 0))
            std::abort();
    }
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
