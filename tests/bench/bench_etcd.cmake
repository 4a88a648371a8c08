# bench_etcd: 1 KiB puts and gets through kvfs mounts of a local 3-member
# etcd cluster at each level, beside direct gateway calls (libcurl) and the
# local backend. Included from tests/CMakeLists.txt; the quick run is a test
# labelled "bench" (77 = skipped without etcd or FUSE).
pkg_check_modules(BENCH_ETCD_CURL IMPORTED_TARGET libcurl)
if(BENCH_ETCD_CURL_FOUND)
  include(${PROJECT_SOURCE_DIR}/tests/etcd/cluster/daemon_path.cmake)
  add_executable(bench_etcd ${CMAKE_CURRENT_LIST_DIR}/bench_etcd.c)
  target_link_libraries(bench_etcd PRIVATE PkgConfig::BENCH_ETCD_CURL)
  add_test(NAME bench_etcd_quick
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bench_etcd.sh --quick)
  set_tests_properties(bench_etcd_quick PROPERTIES
    LABELS bench TIMEOUT 120 SKIP_RETURN_CODE 77
    ENVIRONMENT "KT_NAME=bench_etcd;KT_BASE_PORT=25100;KT_SCRIPT=${PROJECT_SOURCE_DIR}/mount-scripts/etcd-cluster;KT_KVFS=${KVFS_DAEMON_PATH};KT_BIN_DIR=$<TARGET_FILE_DIR:bench_etcd>;KT_REAP=$<TARGET_FILE:reap>;KT_LIB=${PROJECT_SOURCE_DIR}/tests/etcd/cluster/cluster_lib.sh")
endif()
