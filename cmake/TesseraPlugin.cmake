# tessera_add_plugin(NAME SOURCES... [OUTPUT_DIR dir] [NO_INSTALL] [DEFINITIONS defs...])
#
# A plugin is a MODULE named tessera-NAME.so that exports exactly one symbol,
# tessera_backend_entry_NAME: hidden visibility plus a version script make sure
# of it, so two plugins can never clash and a static build can link them all.
function(tessera_add_plugin name)
  cmake_parse_arguments(P "NO_INSTALL" "OUTPUT_DIR;TARGET;ENTRY" "SOURCES;DEFINITIONS" ${ARGN})
  if(NOT P_TARGET)
    set(P_TARGET tessera-${name})
  endif()
  if(NOT P_OUTPUT_DIR)
    set(P_OUTPUT_DIR "${TESSERA_BUILD_PLUGIN_DIR}")
  endif()
  if(NOT P_ENTRY)
    set(P_ENTRY ${name})
  endif()
  set(map "${CMAKE_CURRENT_BINARY_DIR}/${P_TARGET}.map")
  file(CONFIGURE OUTPUT "${map}"
       CONTENT "{\n  global: tessera_backend_entry_${P_ENTRY};\n  local: *;\n};\n")
  add_library(${P_TARGET} MODULE ${P_SOURCES})
  target_link_libraries(${P_TARGET} PRIVATE tessera PkgConfig::GLIB)
  target_compile_definitions(${P_TARGET} PRIVATE ${P_DEFINITIONS})
  # --as-needed: a plugin needs only the libraries it calls (GIO is in
  # PkgConfig::GLIB); explicit because Debian's GCC drops it under ASan.
  target_link_options(${P_TARGET} PRIVATE "-Wl,--version-script=${map}" "-Wl,--no-undefined"
                      "-Wl,--as-needed")
  set_target_properties(${P_TARGET} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "tessera-${name}"
    C_VISIBILITY_PRESET hidden
    INSTALL_RPATH ""
    LINK_DEPENDS "${map}"
    LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIR}")
  if(NOT P_NO_INSTALL)
    install(TARGETS ${P_TARGET} LIBRARY DESTINATION "${TESSERA_PLUGIN_INSTALL_DIR}" COMPONENT plugin-${name})
  endif()
endfunction()
