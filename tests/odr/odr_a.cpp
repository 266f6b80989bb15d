#include <oidc/oidc.hpp>
int odr_a() {
    return static_cast<int>(oidc::make_error_code(oidc::errc::token_expired).value());
}
