# One helper registers every cmocka test: an executable per module, linked
# against the static library and the shared test helpers, labelled "unit"
# unless told otherwise.
#
#   kvfs_add_cmocka_test(NAME test_key SOURCES test_key.c
#                        [LIBS extra...] [LABELS unit ...] [TIMEOUT seconds])
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

function(kvfs_add_cmocka_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE kvfs_testutil kvfs_static
                        PkgConfig::CMOCKA ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}"
                       TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT")
endfunction()
