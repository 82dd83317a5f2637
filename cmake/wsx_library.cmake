# wsx_add_layer(<layer> [PUBLIC_DEPS ...] [PRIVATE_DEPS ...]): the library wsx_<layer> from
# src/<layer>/*.cpp, exported as wsx::<layer>.
#
# Consumers see only include/ (and the generated wsx/version.hpp). The private headers of the
# layers (src/session/session.hpp, ...) are reached as "session/..." by the layers above and by
# the tests, through PRIVATE include directories: no src/ path is part of any interface.
function(wsx_add_layer layer)
  cmake_parse_arguments(ARG "" "" "PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${layer}/*.cpp)
  set(target wsx_${layer})
  add_library(${target} ${sources})
  add_library(wsx::${layer} ALIAS ${target})
  target_include_directories(
    ${target}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
           $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE ${WSX_FUZZ_COVERAGE})
  # 0.x: every minor release may break the ABI, so the SONAME carries major.minor.
  set_target_properties(
    ${target}
    PROPERTIES EXPORT_NAME ${layer}
               VERSION ${PROJECT_VERSION}
               SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
               POSITION_INDEPENDENT_CODE ${BUILD_SHARED_LIBS})
  if(BUILD_SHARED_LIBS)
    target_compile_definitions(${target} PRIVATE WSX_BUILDING_SHARED)
    # A shared layer must not leave a symbol undefined for the application to provide.
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
endfunction()
