# Runs ports/asio-oidc/portfile.cmake without vcpkg (which cannot be downloaded here), then
# builds the find_package consumer and a pkg-config build against the result.
#
#   cmake -DWORK_DIR=<scratch dir> [-DSOURCE_DIR=<repo>] [-DCXX=g++] -P run.cmake
#
# The vcpkg_* functions the portfile calls are minimal stand-ins that do what vcpkg does
# for a header-only port on Linux and check what vcpkg's post-build checks would check.
# Like vcpkg, the package is built in packages/<port>_<triplet> and then copied into
# installed/<triplet>, so the installed files must be relocatable.
cmake_minimum_required(VERSION 3.20)

get_filename_component(_here "${CMAKE_CURRENT_LIST_DIR}" ABSOLUTE)
if(NOT SOURCE_DIR)
  get_filename_component(SOURCE_DIR "${_here}/../../.." ABSOLUTE)
endif()
if(NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DWORK_DIR=<dir> [-DSOURCE_DIR=<repo>] -P run.cmake")
endif()
if(NOT CXX)
  set(CXX g++)
endif()
set(PORT_DIR "${SOURCE_DIR}/ports/asio-oidc")

function(fail)
  string(JOIN " " msg ${ARGV})
  message(FATAL_ERROR "vcpkg_port: ${msg}")
endfunction()

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(JOIN " " cmd ${ARGV})
    fail("command failed (${rc}): ${cmd}\n${out}")
  endif()
endfunction()

# ---- what vcpkg sets before it includes a portfile ----
file(READ "${PORT_DIR}/vcpkg.json" _manifest)
string(JSON PORT GET "${_manifest}" name)
string(JSON VERSION GET "${_manifest}" version)
set(TARGET_TRIPLET x64-linux)
set(VCPKG_TARGET_ARCHITECTURE x64)
set(VCPKG_CMAKE_SYSTEM_NAME Linux)
set(CURRENT_BUILDTREES_DIR "${WORK_DIR}/buildtrees/${PORT}")
set(CURRENT_PACKAGES_DIR "${WORK_DIR}/packages/${PORT}_${TARGET_TRIPLET}")
set(CURRENT_INSTALLED_DIR "${WORK_DIR}/installed/${TARGET_TRIPLET}")
file(REMOVE_RECURSE "${WORK_DIR}/packages" "${WORK_DIR}/installed")
file(MAKE_DIRECTORY "${CURRENT_BUILDTREES_DIR}" "${CURRENT_PACKAGES_DIR}")

# The manifest names the dependencies the CMake package finds.
foreach(dep IN ITEMS asio openssl simdjson vcpkg-cmake vcpkg-cmake-config)
  string(FIND "${_manifest}" "\"${dep}\"" _at)
  if(_at EQUAL -1)
    fail("vcpkg.json lacks the dependency ${dep}")
  endif()
endforeach()

# ---- stand-ins for the vcpkg functions the portfile calls ----
function(vcpkg_from_github)
  cmake_parse_arguments(PARSE_ARGV 0 a "" "OUT_SOURCE_PATH;REPO;REF;SHA512;HEAD_REF" "PATCHES")
  foreach(k IN ITEMS OUT_SOURCE_PATH REPO REF SHA512)
    if(NOT DEFINED a_${k})
      fail("vcpkg_from_github without ${k}")
    endif()
  endforeach()
  # Instead of downloading ${a_REPO}@${a_REF}: this checkout.
  set(${a_OUT_SOURCE_PATH} "${SOURCE_DIR}" PARENT_SCOPE)
endfunction()

function(vcpkg_cmake_configure)
  cmake_parse_arguments(PARSE_ARGV 0 a "" "SOURCE_PATH" "OPTIONS;OPTIONS_RELEASE;OPTIONS_DEBUG")
  if(NOT VCPKG_BUILD_TYPE STREQUAL "release")
    fail("a header-only port sets VCPKG_BUILD_TYPE release")
  endif()
  set(build "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-rel")
  file(REMOVE_RECURSE "${build}")
  run(${CMAKE_COMMAND} -S "${a_SOURCE_PATH}" -B "${build}" -G Ninja
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX}
      "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}"
      -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_BINDIR=bin
      -DCMAKE_INSTALL_INCLUDEDIR=include -DCMAKE_INSTALL_DATAROOTDIR=share
      -DFETCHCONTENT_FULLY_DISCONNECTED=ON -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
      ${a_OPTIONS} ${a_OPTIONS_RELEASE})
  set_property(GLOBAL PROPERTY vcpkg_cmake_build_dir "${build}")
endfunction()

function(vcpkg_cmake_install)
  get_property(build GLOBAL PROPERTY vcpkg_cmake_build_dir)
  if(NOT build)
    fail("vcpkg_cmake_install before vcpkg_cmake_configure")
  endif()
  run(${CMAKE_COMMAND} --build "${build}" --target install -j 2)
  # A header-only port compiles nothing for its install.
  file(GLOB_RECURSE objects "${build}/*.o")
  if(objects)
    list(LENGTH objects n)
    message(STATUS "vcpkg_port: note: installing compiled ${n} object file(s)")
  endif()
endfunction()

function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(PARSE_ARGV 0 a "" "CONFIG_PATH;PACKAGE_NAME" "")
  if(NOT a_PACKAGE_NAME)
    set(a_PACKAGE_NAME "${PORT}")
  endif()
  set(from "${CURRENT_PACKAGES_DIR}/${a_CONFIG_PATH}")
  set(to "${CURRENT_PACKAGES_DIR}/share/${a_PACKAGE_NAME}")
  if(NOT EXISTS "${from}/${a_PACKAGE_NAME}-config.cmake")
    fail("no ${a_PACKAGE_NAME}-config.cmake in ${a_CONFIG_PATH}")
  endif()
  if(NOT from STREQUAL to)
    file(REMOVE_RECURSE "${to}")
    file(RENAME "${from}" "${to}")
  endif()
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/${a_CONFIG_PATH}")
  # vcpkg rewrites absolute paths into the package; ours must have none to begin with.
  file(GLOB configs "${to}/*.cmake")
  foreach(f IN LISTS configs)
    file(READ "${f}" text)
    string(FIND "${text}" "${CURRENT_PACKAGES_DIR}" at)
    if(NOT at EQUAL -1)
      fail("${f} holds the absolute package path")
    endif()
  endforeach()
endfunction()

function(vcpkg_fixup_pkgconfig)
  file(GLOB_RECURSE pcs "${CURRENT_PACKAGES_DIR}/*.pc")
  if(NOT pcs)
    fail("no pkg-config file installed")
  endif()
  foreach(f IN LISTS pcs)
    if(NOT f MATCHES "/(share|lib)/pkgconfig/[^/]+\\.pc$")
      fail("${f} is not in share/pkgconfig or lib/pkgconfig")
    endif()
    file(READ "${f}" text)
    string(FIND "${text}" "${CURRENT_PACKAGES_DIR}" at)
    if(NOT at EQUAL -1)
      fail("${f} holds the absolute package path")
    endif()
  endforeach()
endfunction()

function(vcpkg_install_copyright)
  cmake_parse_arguments(PARSE_ARGV 0 a "" "" "FILE_LIST")
  if(NOT a_FILE_LIST)
    fail("vcpkg_install_copyright without FILE_LIST")
  endif()
  set(text "")
  foreach(f IN LISTS a_FILE_LIST)
    if(NOT EXISTS "${f}")
      fail("copyright source ${f} missing")
    endif()
    file(READ "${f}" t)
    string(APPEND text "${t}")
  endforeach()
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "${text}")
endfunction()

# ---- run the portfile, as vcpkg does ----
message(STATUS "vcpkg_port: ${PORT} ${VERSION} -> ${CURRENT_PACKAGES_DIR}")
include("${PORT_DIR}/portfile.cmake")

# ---- vcpkg's post-build checks, those that matter for a header-only port ----
set(pkg "${CURRENT_PACKAGES_DIR}")
foreach(f IN ITEMS include/oidc/oidc.hpp share/${PORT}/copyright share/${PORT}/usage
        share/${PORT}/${PORT}-config.cmake share/${PORT}/${PORT}-config-version.cmake
        share/${PORT}/${PORT}-targets.cmake share/pkgconfig/${PORT}.pc)
  if(NOT EXISTS "${pkg}/${f}")
    fail("package lacks ${f}")
  endif()
endforeach()
foreach(d IN ITEMS debug lib bin)
  if(EXISTS "${pkg}/${d}")
    fail("header-only package has a ${d} directory")
  endif()
endforeach()
file(GLOB_RECURSE binaries "${pkg}/*.a" "${pkg}/*.so" "${pkg}/*.so.*")
if(binaries)
  fail("header-only package holds binaries: ${binaries}")
endif()
file(GLOB_RECURSE cmake_files RELATIVE "${pkg}" "${pkg}/*.cmake")
foreach(f IN LISTS cmake_files)
  if(NOT f MATCHES "^share/${PORT}/")
    fail("CMake file outside share/${PORT}: ${f}")
  endif()
endforeach()
file(READ "${pkg}/share/${PORT}/${PORT}-config-version.cmake" version_file)
if(NOT version_file MATCHES "PACKAGE_VERSION \"${VERSION}\"")
  fail("vcpkg.json version ${VERSION} differs from the CMake package version")
endif()

# ---- vcpkg copies the package into the installed tree: consumers use it from there ----
file(COPY "${pkg}/" DESTINATION "${CURRENT_INSTALLED_DIR}")
file(REMOVE_RECURSE "${WORK_DIR}/packages")

# Reused between runs: installed files keep their times, so an unchanged tree rebuilds nothing.
set(consumer "${WORK_DIR}/consumer")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/find_package" -B "${consumer}" -G Ninja
    -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_PREFIX_PATH=${CURRENT_INSTALLED_DIR}"
    -DASIO_OIDC_CONSUMER_VERSION=${VERSION})
run(${CMAKE_COMMAND} --build "${consumer}" -j 2)
run("${consumer}/consumer")

# pkg-config against the relocated tree (${pcfiledir}-relative prefix).
set(ENV{PKG_CONFIG_PATH} "${CURRENT_INSTALLED_DIR}/share/pkgconfig")
execute_process(COMMAND pkg-config --cflags asio-oidc RESULT_VARIABLE rc OUTPUT_VARIABLE cflags
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  fail("pkg-config --cflags asio-oidc failed")
endif()
separate_arguments(cflags UNIX_COMMAND "${cflags}")
list(GET cflags 0 first)
string(REGEX REPLACE "^-I" "" incdir "${first}")
if(NOT EXISTS "${incdir}/oidc/oidc.hpp")
  fail("pkg-config include dir ${incdir} does not hold oidc/oidc.hpp")
endif()
message(STATUS "vcpkg_port: ok (port ${PORT} ${VERSION}, consumer built against ${CURRENT_INSTALLED_DIR})")
