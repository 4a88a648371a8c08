# bench_lib: library put/get/delete rates against raw system calls, and a
# streamed value with peak memory (tests/bench/bench_lib.c). Included from
# tests/CMakeLists.txt; the quick run is a test labelled "bench".
add_executable(bench_lib ${CMAKE_CURRENT_LIST_DIR}/bench_lib.c)
target_link_libraries(bench_lib PRIVATE kvfs_testutil kvfs_static)
add_test(NAME bench_lib_quick COMMAND bench_lib --quick)
set_tests_properties(bench_lib_quick PROPERTIES LABELS bench TIMEOUT 300)
