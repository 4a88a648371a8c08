# bench_cache: cached eventual reads beside uncached strong reads (etcd
# when its binary is present, and local). Quick run labelled "bench".
add_executable(bench_cache ${CMAKE_CURRENT_LIST_DIR}/bench_cache.c)
target_link_libraries(bench_cache PRIVATE kvfs_testutil kvfs_static)
add_test(NAME bench_cache_quick COMMAND bench_cache --quick)
set_tests_properties(bench_cache_quick PROPERTIES LABELS bench TIMEOUT 120)
