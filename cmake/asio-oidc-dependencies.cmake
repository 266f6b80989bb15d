# Finds what asio-oidc needs: Threads, OpenSSL 3, simdjson and standalone Asio.
# Shared by the build tree (include()d from CMakeLists.txt, where a missing dependency is a
# fatal error) and by the installed package (include()d from asio-oidc-config.cmake, where
# find_dependency() marks asio-oidc as not found instead).
include(CMakeFindDependencyMacro)

if(CMAKE_FIND_PACKAGE_NAME STREQUAL "asio-oidc")
  set(_asio_oidc_in_config TRUE)
else()
  set(_asio_oidc_in_config FALSE)
endif()

macro(_asio_oidc_find_dependency)
  if(_asio_oidc_in_config)
    find_dependency(${ARGV})
  else()
    find_package(${ARGV} REQUIRED)
  endif()
endmacro()

_asio_oidc_find_dependency(Threads)
_asio_oidc_find_dependency(OpenSSL 3)
_asio_oidc_find_dependency(simdjson CONFIG)

# Standalone Asio. vcpkg (and Asio's own CMake builds) ship a CONFIG package with the
# target asio::asio; Debian's libasio-dev ships headers only, so make the same target here.
if(NOT TARGET asio::asio)
  find_package(asio CONFIG QUIET)
endif()
if(NOT TARGET asio::asio)
  find_path(ASIO_OIDC_ASIO_INCLUDE_DIR NAMES asio/version.hpp
    DOC "Directory holding the standalone Asio headers (asio.hpp)")
  if(NOT ASIO_OIDC_ASIO_INCLUDE_DIR)
    set(_asio_oidc_msg "standalone Asio was not found: no asio CMake package and no \
asio/version.hpp on the include path (install libasio-dev or vcpkg's asio, or set \
ASIO_OIDC_ASIO_INCLUDE_DIR)")
    if(_asio_oidc_in_config)
      set(asio-oidc_NOT_FOUND_MESSAGE "${_asio_oidc_msg}")
      set(asio-oidc_FOUND FALSE)
      return()
    endif()
    message(FATAL_ERROR "${_asio_oidc_msg}")
  endif()
  add_library(asio::asio INTERFACE IMPORTED)
  set_target_properties(asio::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${ASIO_OIDC_ASIO_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
    INTERFACE_LINK_LIBRARIES "Threads::Threads")
  # asio-oidc's own tests and examples build with ASIO_NO_DEPRECATED, so that nothing that
  # newer Asio releases removed creeps in. Consumers (installed package, add_subdirectory)
  # keep their own choice.
  if(NOT _asio_oidc_in_config AND PROJECT_IS_TOP_LEVEL)
    set_property(TARGET asio::asio APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS
      ASIO_NO_DEPRECATED)
  endif()
endif()
unset(_asio_oidc_in_config)
