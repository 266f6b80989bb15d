# Finds asio-oidc's dependencies; shared by the build tree and the installed package.
include(CMakeFindDependencyMacro)

find_dependency(Threads)
find_dependency(OpenSSL 3)
find_dependency(simdjson CONFIG)

# Standalone Asio: vcpkg ships a CONFIG package (asio::asio); Debian's libasio-dev only
# ships headers.
if(NOT TARGET asio::asio)
  find_package(asio CONFIG QUIET)
endif()
if(NOT TARGET asio::asio)
  find_path(ASIO_OIDC_ASIO_INCLUDE_DIR NAMES asio.hpp REQUIRED)
  add_library(asio::asio INTERFACE IMPORTED)
  set_target_properties(asio::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${ASIO_OIDC_ASIO_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED")
endif()
