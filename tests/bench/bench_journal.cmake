# bench_journal: eventual reads of keys pending in the etcd journal, with
# 1 and with 10,000 entries pending, against the fake gateway of the etcd
# unit tests (no etcd needed). Quick run labelled "bench".
add_executable(bench_journal ${CMAKE_CURRENT_LIST_DIR}/bench_journal.c)
target_link_libraries(bench_journal PRIVATE kvfs_etcd_testsupport)
add_test(NAME bench_journal_quick COMMAND bench_journal --quick)
set_tests_properties(bench_journal_quick PROPERTIES LABELS bench TIMEOUT 120)
