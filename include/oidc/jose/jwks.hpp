// asio-oidc: JSON Web Key Sets (RFC 7517 section 5). jwk_set is defined with jwk.
#pragma once

#include <oidc/jose/jwk.hpp>
