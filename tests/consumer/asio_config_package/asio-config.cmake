# Stand-in for vcpkg's asio CONFIG package (share/asio/asio-config.cmake, target asio::asio):
# the packaging stage points asio_DIR here to check that asio-oidc's installed config uses
# an Asio package when there is one instead of looking for bare headers.
if(NOT TARGET asio::asio)
  find_path(_asio_stand_in_include NAMES asio/version.hpp REQUIRED NO_CACHE)
  add_library(asio::asio INTERFACE IMPORTED)
  set_target_properties(asio::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_asio_stand_in_include}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;OIDC_TEST_ASIO_CONFIG_PACKAGE")
endif()
set(asio_FOUND TRUE)
