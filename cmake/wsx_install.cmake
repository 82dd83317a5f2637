# cmake --install: headers, libraries, the exported targets (wsx::wsx and the layers), the
# package configuration files for find_package and pkg-config, the browser client wsx.js, and the
# wsx command with its man page and bash completion.
include(CMakePackageConfigHelpers)

set(WSX_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/wsx)
set(WSX_LAYERS proto io session h2 server client redis)
list(TRANSFORM WSX_LAYERS PREPEND wsx_ OUTPUT_VARIABLE wsx_layer_targets)

install(TARGETS ${wsx_layer_targets} wsx_all
        EXPORT wsxTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT library
                NAMELINK_COMPONENT development
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/wsx ${PROJECT_BINARY_DIR}/generated/include/wsx
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
        FILES_MATCHING PATTERN "*.hpp")
install(EXPORT wsxTargets NAMESPACE wsx:: DESTINATION ${WSX_CMAKE_DIR} COMPONENT development)

# Static archives carry their dependencies as link-only entries of the exported targets, so the
# configuration must find them; shared libraries have them recorded in their own NEEDED entries.
if(BUILD_SHARED_LIBS)
  set(WSX_CONFIG_STATIC FALSE)
else()
  set(WSX_CONFIG_STATIC TRUE)
endif()
configure_package_config_file(cmake/wsxConfig.cmake.in ${PROJECT_BINARY_DIR}/wsxConfig.cmake
                              INSTALL_DESTINATION ${WSX_CMAKE_DIR})
# 0.x: a minor release may break the API, so find_package(wsx 0.2) accepts 0.2.* only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/wsxConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/wsxConfig.cmake ${PROJECT_BINARY_DIR}/wsxConfigVersion.cmake
        DESTINATION ${WSX_CMAKE_DIR} COMPONENT development)

# pkg-config: the libraries in link order (each before what it uses). The system libraries are
# private to a shared build; a static build needs them on the link line.
set(WSX_PC_LIBS "-L\${libdir} -lwsx_redis -lwsx_client -lwsx_server -lwsx_h2 -lwsx_session -lwsx_io -lwsx_proto")
set(WSX_PC_SYSTEM_LIBS "-lhiredis -lnghttp2 -lssl -lcrypto -lz -pthread")
if(WSX_HAVE_ISAL)
  string(PREPEND WSX_PC_SYSTEM_LIBS "-lisal ")
endif()
if(WSX_HAVE_LIBDEFLATE)
  string(PREPEND WSX_PC_SYSTEM_LIBS "-ldeflate ")
endif()
if(WSX_HAVE_LIBURING)
  string(PREPEND WSX_PC_SYSTEM_LIBS "-luring ")
endif()
if(BUILD_SHARED_LIBS)
  set(WSX_PC_LIBS_PRIVATE "${WSX_PC_SYSTEM_LIBS}")
else()
  string(APPEND WSX_PC_LIBS " ${WSX_PC_SYSTEM_LIBS}")
  set(WSX_PC_LIBS_PRIVATE "")
endif()
file(RELATIVE_PATH WSX_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" WSX_PC_TO_PREFIX "${WSX_PC_TO_PREFIX}")
configure_file(cmake/wsx.pc.in ${PROJECT_BINARY_DIR}/wsx.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/wsx.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT development)

if(TARGET wsx)
  install(TARGETS wsx RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT command)
  # Man pages are installed compressed (Debian policy 12.1); -n keeps the archive reproducible.
  set(man_gz ${PROJECT_BINARY_DIR}/wsx.1.gz)
  add_custom_command(OUTPUT ${man_gz}
                     COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/tools/wsx/wsx.1 > ${man_gz}
                     DEPENDS ${PROJECT_SOURCE_DIR}/tools/wsx/wsx.1 VERBATIM)
  add_custom_target(wsx_man_page ALL DEPENDS ${man_gz})
  install(FILES ${man_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT command)
  install(FILES ${PROJECT_SOURCE_DIR}/tools/wsx/wsx.bash-completion
          DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME wsx
          COMPONENT command)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT library)
# Debian looks for the licence as /usr/share/doc/<package>/copyright.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright
        COMPONENT library)
# The browser client, for applications that serve it themselves (wsx serve has it built in at
# /wsx.js): /usr/share/wsx/wsx.js.
install(FILES ${PROJECT_SOURCE_DIR}/js/wsx.js DESTINATION ${CMAKE_INSTALL_DATADIR}/wsx
        COMPONENT library)
file(GLOB wsx_guides CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${wsx_guides} DESTINATION ${CMAKE_INSTALL_DOCDIR}/guides COMPONENT development)
