# Run by `cmake --install` and cpack (through install(CODE), see
# KvfsInstall.cmake): configure one template with the paths of this
# install, which cpack makes under its own prefix (/usr), whatever
# CMAKE_INSTALL_PREFIX the build was configured with.
#
# In: KVFS_TEMPLATE, KVFS_OUTPUT, KVFS_GZIP (ON: write KVFS_OUTPUT.gz too,
# as Debian ships man pages), KVFS_DIRS (NAME=DIR pairs, DIR relative to
# the prefix or absolute) and CMAKE_INSTALL_PREFIX (cmake_install.cmake's).
# A template sees @KVFS_PREFIX@ and @KVFS_<NAME>@ for each pair.
set(KVFS_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(pair IN LISTS KVFS_DIRS)
  string(REGEX MATCH "^([A-Z_]+)=(.*)$" _ "${pair}")
  set(dir "${CMAKE_MATCH_2}")
  if(NOT IS_ABSOLUTE "${dir}")
    set(dir "${KVFS_PREFIX}/${dir}")
  endif()
  set(KVFS_${CMAKE_MATCH_1} "${dir}")
endforeach()
configure_file("${KVFS_TEMPLATE}" "${KVFS_OUTPUT}" @ONLY)
if(KVFS_GZIP)
  # -n: no name or time stamp inside, so the same page makes the same file.
  execute_process(COMMAND gzip -9nc "${KVFS_OUTPUT}"
                  OUTPUT_FILE "${KVFS_OUTPUT}.gz" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${KVFS_OUTPUT}: ${rc}")
  endif()
endif()
