#include <oidc/oidc.hpp>
int odr_b() {
    return static_cast<int>(oidc::make_error_code(oidc::errc::token_expired).value());
}
