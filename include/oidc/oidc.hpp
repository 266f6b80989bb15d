// asio-oidc umbrella header.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/error.hpp>
#include <oidc/token.hpp>
