// Asio compiled once for the project's own programs (ASIO_SEPARATE_COMPILATION).
#include <oidc/detail/config.hpp>

#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
