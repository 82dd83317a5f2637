# cpack -G DEB: one package with the libraries, headers, CMake and pkg-config files, and the wsx
# command with its man page and bash completion (scripts/package.sh builds it).
set(CPACK_PACKAGE_NAME wsx)
set(CPACK_PACKAGE_VENDOR "the wsx authors")
set(CPACK_PACKAGE_CONTACT "the wsx authors <wsx@invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The runtime libraries the shared libraries and the command are linked with (Debian 12 names;
# libedit2 for the prompt of wsx connect, libhiredis0.14 for the Redis broker, libisal2 for
# permessage-deflate compression, libdeflate0 for its decompression, libnghttp2-14 for HTTP/2;
# tests/package/check_deb.sh checks every NEEDED entry).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1, libssl3 (>= 3.0.0), zlib1g (>= 1:1.2.0), libedit2 (>= 3.1), libhiredis0.14, libisal2, libdeflate0, liburing2, libnghttp2-14 (>= 1.52)")
# Building against the static flavour needs the development files of the same libraries.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libssl-dev, zlib1g-dev, libhiredis-dev, libisal-dev, libdeflate-dev, liburing-dev, libnghttp2-dev, pkg-config, cmake")
set(CPACK_DEB_COMPONENT_INSTALL OFF)
# A shlibs file and the ldconfig trigger, so that the dynamic linker finds the libraries at once.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_STRIP_FILES ON)
include(CPack)
