// asio-oidc umbrella header.
#pragma once

#include <oidc/detail/config.hpp>
#include <oidc/discovery.hpp>
#include <oidc/error.hpp>
#include <oidc/http/url.hpp>
#include <oidc/token.hpp>
