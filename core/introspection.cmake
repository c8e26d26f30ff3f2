# Tessera-0.gir and Tessera-0.typelib (GObject Introspection): one typelib
# gives Python (PyGObject), JavaScript (gjs) and the other GI languages the
# whole public API. The scanner reads the gtk-doc annotations of the public
# headers; any warning fails the build (--warn-all --warn-error).
set(TESSERA_GIR_HEADERS
  "${PROJECT_SOURCE_DIR}/include/tessera/error.h"
  "${PROJECT_SOURCE_DIR}/include/tessera/options.h"
  "${PROJECT_SOURCE_DIR}/include/tessera/license.h"
  "${PROJECT_SOURCE_DIR}/include/tessera/fingerprint.h"
  "${PROJECT_SOURCE_DIR}/include/tessera/licfile.h"
  "${PROJECT_SOURCE_DIR}/include/tessera/engine.h"
  "${PROJECT_SOURCE_DIR}/include/tessera/backend.h"
  "${TESSERA_ENUM_TYPES_H}")
set(TESSERA_GIR "${PROJECT_BINARY_DIR}/gir/Tessera-0.gir")
set(TESSERA_TYPELIB "${PROJECT_BINARY_DIR}/gir/Tessera-0.typelib")
set(TESSERA_GIR "${TESSERA_GIR}" PARENT_SCOPE)
set(TESSERA_TYPELIB_DIR "${PROJECT_BINARY_DIR}/gir" PARENT_SCOPE)

# The scanner compiles and runs a small program linked with libtessera to
# read the GTypes; it uses the project's compiler without the launcher.
add_custom_command(OUTPUT "${TESSERA_GIR}"
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${PROJECT_BINARY_DIR}/gir"
  COMMAND "${CMAKE_COMMAND}" -E env "CC=${CMAKE_C_COMPILER}" "CFLAGS=" "LDFLAGS="
          "${G_IR_SCANNER}" --quiet --warn-all --warn-error --no-libtool
          --namespace=Tessera --nsversion=0 --identifier-prefix=Tessera --symbol-prefix=tessera
          --include=GLib-2.0 --include=GObject-2.0 --include=Gio-2.0 --pkg=gio-2.0
          --pkg-export=tessera --c-include=tessera/tessera.h
          --library=tessera "-L$<TARGET_FILE_DIR:tessera>"
          "--library-path=$<TARGET_FILE_DIR:tessera>"
          "-I${PROJECT_SOURCE_DIR}/include" "-I${PROJECT_BINARY_DIR}/include"
          -DTESSERA_COMPILATION
          "--sources-top-dirs=${PROJECT_SOURCE_DIR}" "--sources-top-dirs=${PROJECT_BINARY_DIR}"
          --output "${TESSERA_GIR}" ${TESSERA_GIR_HEADERS}
  DEPENDS tessera ${TESSERA_GIR_HEADERS}
  COMMENT "Generating Tessera-0.gir (g-ir-scanner, warnings are errors)"
  VERBATIM)
add_custom_command(OUTPUT "${TESSERA_TYPELIB}"
  COMMAND "${G_IR_COMPILER}" --output "${TESSERA_TYPELIB}" "${TESSERA_GIR}"
  DEPENDS "${TESSERA_GIR}"
  COMMENT "Compiling Tessera-0.typelib"
  VERBATIM)
add_custom_target(tessera-gir ALL DEPENDS "${TESSERA_GIR}" "${TESSERA_TYPELIB}")

install(FILES "${TESSERA_GIR}" DESTINATION "${CMAKE_INSTALL_DATADIR}/gir-1.0" COMPONENT dev)
install(FILES "${TESSERA_TYPELIB}" DESTINATION "${CMAKE_INSTALL_LIBDIR}/girepository-1.0"
        COMPONENT runtime)
