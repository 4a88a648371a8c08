# kvfs_install_configured(TEMPLATE DESTINATION DIR [PROGRAM] [GZIP]
#                         [RENAME NAME])
#
# Installs a file that names install paths: mount.kvfs and the systemd unit
# name the daemon, kvfs.pc the prefix, the man pages where everything is.
# It is configured when it is installed, not when the build is: cpack
# installs under its own prefix (/usr), so paths fixed at configure time
# (/usr/local by default) would be wrong in the package. Templates use
# @KVFS_PREFIX@, @KVFS_BINDIR@, @KVFS_SBINDIR@, @KVFS_LIBDIR@,
# @KVFS_INCLUDEDIR@, @KVFS_DOCDIR@, @KVFS_UNITDIR@ (full paths) and
# @PROJECT_VERSION@.
# GZIP installs TEMPLATE's name (without .in) plus .gz, compressed.
set(KVFS_UNITDIR lib/systemd/system) # under the prefix: /usr/lib/systemd/system

function(kvfs_install_configured template)
  cmake_parse_arguments(A "PROGRAM;GZIP" "DESTINATION;RENAME" "" ${ARGN})
  get_filename_component(name ${template} NAME)
  string(REGEX REPLACE "\\.in$" "" name ${name})
  # Outputs of installs only: the build tree's own copies (tests read
  # them) stay as configured.
  set(out ${CMAKE_CURRENT_BINARY_DIR}/install-time/${name})
  set(dirs BINDIR=${CMAKE_INSTALL_BINDIR} SBINDIR=${CMAKE_INSTALL_SBINDIR}
           LIBDIR=${CMAKE_INSTALL_LIBDIR} INCLUDEDIR=${CMAKE_INSTALL_INCLUDEDIR}
           DOCDIR=${CMAKE_INSTALL_DOCDIR} UNITDIR=${KVFS_UNITDIR})
  install(CODE "
    set(KVFS_TEMPLATE \"${CMAKE_CURRENT_SOURCE_DIR}/${template}\")
    set(KVFS_OUTPUT \"${out}\")
    set(KVFS_GZIP ${A_GZIP})
    set(KVFS_DIRS \"${dirs}\")
    set(PROJECT_VERSION \"${PROJECT_VERSION}\")
    include(\"${PROJECT_SOURCE_DIR}/cmake/KvfsConfigureAtInstall.cmake\")")
  if(A_GZIP)
    set(out ${out}.gz)
  endif()
  set(kind FILES)
  if(A_PROGRAM)
    set(kind PROGRAMS)
  endif()
  set(rename)
  if(A_RENAME)
    set(rename RENAME ${A_RENAME})
  endif()
  install(${kind} ${out} DESTINATION ${A_DESTINATION} ${rename})
endfunction()
