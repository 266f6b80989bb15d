# vcpkg port of asio-oidc: header-only, so one (release) configuration is enough.
# Tested without vcpkg by tests/consumer/vcpkg_port/run.cmake (stand-ins for vcpkg_*).
set(VCPKG_BUILD_TYPE release)

# Placeholder until the first release is tagged: set REPO, REF and SHA512 to the real ones
# (vcpkg prints the expected SHA512 on the first run).
vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO asio-oidc/asio-oidc
    REF "v${VERSION}"
    SHA512 0
    HEAD_REF main
)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DASIO_OIDC_INSTALL=ON
        -DASIO_OIDC_BUILD_TESTS=OFF
        -DASIO_OIDC_BUILD_EXAMPLES=OFF
        -DASIO_OIDC_BUILD_BENCH=OFF
        -DASIO_OIDC_BUILD_FUZZ=OFF
        # Nothing to compile: install without building the default target.
        -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/asio-oidc)
vcpkg_fixup_pkgconfig()

# Header-only: no libraries, no debug tree.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
