# bench_fs: the kvfs daemon against the native directory and libfuse's
# passthrough_ll example, built here from the source Debian's libfuse3-dev
# ships. The quick run is a test labelled "bench" that asserts nothing
# about speed; run the full one with
#   KVFS_BIN=... PASSTHROUGH_LL=... BENCH_FS_DRIVER=... tests/bench/bench_fs.sh
add_executable(bench_fs_driver ${CMAKE_CURRENT_LIST_DIR}/bench_fs_driver.c)

set(KVFS_PASSTHROUGH_LL_SRC /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c)
set(_bench_fs_env "KVFS_BIN=$<TARGET_FILE:kvfs_daemon>;BENCH_FS_DRIVER=$<TARGET_FILE:bench_fs_driver>")
pkg_check_modules(BENCH_FS_FUSE3 IMPORTED_TARGET fuse3)
if(EXISTS ${KVFS_PASSTHROUGH_LL_SRC} AND TARGET kvfs_daemon AND BENCH_FS_FUSE3_FOUND)
  add_executable(passthrough_ll ${KVFS_PASSTHROUGH_LL_SRC})
  # Upstream example code: not held to this project's warning flags.
  target_compile_options(passthrough_ll PRIVATE -w)
  target_include_directories(passthrough_ll PRIVATE
                             /usr/share/doc/libfuse3-dev/examples)
  target_link_libraries(passthrough_ll PRIVATE PkgConfig::BENCH_FS_FUSE3 Threads::Threads)
  set(_bench_fs_env "${_bench_fs_env};PASSTHROUGH_LL=$<TARGET_FILE:passthrough_ll>")
endif()
if(TARGET kvfs_daemon)
  add_test(NAME bench_fs_quick
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bench_fs.sh --quick)
  set_tests_properties(bench_fs_quick PROPERTIES LABELS bench
                       SKIP_RETURN_CODE 77 TIMEOUT 300
                       ENVIRONMENT "${_bench_fs_env}")
endif()
