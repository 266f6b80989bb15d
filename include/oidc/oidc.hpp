// asio-oidc umbrella header.
#pragma once

#include <oidc/authorization.hpp>
#include <oidc/client.hpp>
#include <oidc/client_auth.hpp>
#include <oidc/detail/config.hpp>
#include <oidc/discovery.hpp>
#include <oidc/dpop.hpp>
#include <oidc/error.hpp>
#include <oidc/grants.hpp>
#include <oidc/http/client.hpp>
#include <oidc/http/connection.hpp>
#include <oidc/http/parser.hpp>
#include <oidc/http/serializer.hpp>
#include <oidc/http/url.hpp>
#include <oidc/jose/alg.hpp>
#include <oidc/jose/base64url.hpp>
#include <oidc/jose/claims.hpp>
#include <oidc/jose/jwk.hpp>
#include <oidc/jose/jwks.hpp>
#include <oidc/jose/jws.hpp>
#include <oidc/jose/jwt.hpp>
#include <oidc/jwks_cache.hpp>
#include <oidc/session.hpp>
#include <oidc/token.hpp>
