# bench_sqlite: the SQLite plugin beside the local backend on many tiny
# keys: put and get rates, disk space. Quick run labelled "bench".
add_executable(bench_sqlite ${CMAKE_CURRENT_LIST_DIR}/bench_sqlite.c)
target_link_libraries(bench_sqlite PRIVATE kvfs_testutil kvfs_static)
# The plugin resolves kvfs_* from this executable.
set_target_properties(bench_sqlite PROPERTIES ENABLE_EXPORTS ON)
target_compile_definitions(bench_sqlite PRIVATE
  SQLITE_PLUGIN="$<TARGET_FILE:kvfs_sqlite>")
add_dependencies(bench_sqlite kvfs_sqlite)
add_test(NAME bench_sqlite_quick COMMAND bench_sqlite --quick)
set_tests_properties(bench_sqlite_quick PROPERTIES LABELS bench TIMEOUT 120)
