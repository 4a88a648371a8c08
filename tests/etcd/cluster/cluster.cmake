# Cluster-level etcd tests: the etcd-cluster script, the linearizability
# checker (unit tests), and tests that start a real 3-member cluster and
# mount it twice. Included from tests/etcd/CMakeLists.txt; paths are taken
# from CMAKE_CURRENT_LIST_DIR because CMAKE_CURRENT_SOURCE_DIR is tests/etcd.
# Each cluster test uses its own ports in 25000-25199 (KT_BASE_PORT ..
# +2*members), so they may run in parallel.
set(KVFS_CLUSTER_DIR ${CMAKE_CURRENT_LIST_DIR})
set(KVFS_ETCD_CLUSTER_SCRIPT ${PROJECT_SOURCE_DIR}/mount-scripts/etcd-cluster)

include(${KVFS_CLUSTER_DIR}/daemon_path.cmake)

# The checker: a library for the unit test, a command for the shell tests.
add_library(kvfs_lincheck STATIC ${KVFS_CLUSTER_DIR}/lincheck.c)
target_include_directories(kvfs_lincheck PUBLIC ${KVFS_CLUSTER_DIR})
target_link_libraries(kvfs_lincheck PUBLIC kvfs_static)

add_executable(kvfs-lincheck ${KVFS_CLUSTER_DIR}/lincheck_main.c)
target_link_libraries(kvfs-lincheck PRIVATE kvfs_lincheck)

add_executable(kvfs-lin-client ${KVFS_CLUSTER_DIR}/lin_client.c)
# ls -l with the time of each of its system calls (test_frozen_member.sh).
add_executable(kvfs-timed-ls ${KVFS_CLUSTER_DIR}/timed_ls.c)

kvfs_add_cmocka_test(NAME test_lincheck
                     SOURCES ${KVFS_CLUSTER_DIR}/test_lincheck.c
                     LIBS kvfs_lincheck LABELS unit TIMEOUT 60)

# kvfs_add_cluster_test(NAME SCRIPT PORT TIMEOUT): a shell test with its
# own cluster ports, labelled etcd, 77 = skipped.
function(kvfs_add_cluster_test name script port timeout)
  add_test(NAME ${name} COMMAND bash ${KVFS_CLUSTER_DIR}/${script})
  set_tests_properties(${name} PROPERTIES
    LABELS etcd TIMEOUT ${timeout} SKIP_RETURN_CODE 77
    ENVIRONMENT "KT_NAME=${name};KT_BASE_PORT=${port};KT_SCRIPT=${KVFS_ETCD_CLUSTER_SCRIPT};KT_KVFS=${KVFS_DAEMON_PATH};KT_BIN_DIR=$<TARGET_FILE_DIR:kvfs-lincheck>;KT_REAP=$<TARGET_FILE:reap>;KT_LIB=${KVFS_CLUSTER_DIR}/cluster_lib.sh")
endfunction()

# The script itself: a 3-member cluster that survives losing its leader.
add_test(NAME etcd_cluster_script
         COMMAND bash ${KVFS_CLUSTER_DIR}/test_cluster_script.sh
                 ${KVFS_ETCD_CLUSTER_SCRIPT} 25000)
set_tests_properties(etcd_cluster_script PROPERTIES
                     LABELS etcd TIMEOUT 90 SKIP_RETURN_CODE 77)

kvfs_add_cluster_test(etcd_two_mounts test_two_mounts.sh 25010 120)
kvfs_add_cluster_test(etcd_faults test_faults.sh 25020 150)
kvfs_add_cluster_test(etcd_journal_crash test_journal_crash.sh 25030 120)
kvfs_add_cluster_test(etcd_linearizable test_linearizable.sh 25040 120)
kvfs_add_cluster_test(etcd_bad_input test_bad_input.sh 25050 120)
# mount -t kvfs and an fstab line on etcd: the daemon detached by mount(8).
kvfs_add_cluster_test(etcd_mount_helper test_mount_helper.sh 25080 120)
set_property(TEST etcd_mount_helper APPEND PROPERTY ENVIRONMENT
             "KT_MOUNT_HELPER=${PROJECT_SOURCE_DIR}/mount-scripts/mount.kvfs")
kvfs_add_cluster_test(etcd_frozen_member test_frozen_member.sh 25060 120)
# Modes of 0000, link counts, atime/ctime, 2038, key length on etcd.
kvfs_add_cluster_test(etcd_posix test_posix.sh 25090 180)
# stats and df while the cluster has no quorum: local state, said so.
kvfs_add_cluster_test(etcd_no_quorum_stats test_no_quorum_stats.sh 25170 120)
# umount; mount at once, five times, with one journal: the new mount
# waits for the old daemon to let go of it.
kvfs_add_cluster_test(etcd_remount test_remount.sh 25180 120)
# The real workloads of tests/mount/workloads.sh on an etcd mount, beside
# a plain directory; git (thousands of metadata round trips) on a cluster
# of its own, so that each entry stays under two minutes.
kvfs_add_cluster_test(etcd_workloads_git test_workloads.sh 25120 180)
set_property(TEST etcd_workloads_git APPEND PROPERTY ENVIRONMENT
             "KVFS_WORKLOADS=git")
kvfs_add_cluster_test(etcd_workloads test_workloads.sh 25130 180)
set_property(TEST etcd_workloads APPEND PROPERTY ENVIRONMENT
             "KVFS_WORKLOADS=tar,rsync,cp,edit,sqlite,make,flock")
# Not on etcd: shared maps (the mmap workload, SQLite's WAL mode, whose
# -shm file is mapped shared): every open file of a shared backend uses
# direct I/O, and the kernel refuses shared maps of those (ENODEV;
# fs/README.md).
set_property(TEST etcd_workloads APPEND PROPERTY ENVIRONMENT
             "KVFS_SQLITE_MODES=delete truncate")
# The files are the keys under the prefix: etcdctl put/del seen in the
# mount, the mount's writes seen by etcdctl, at strong and eventual.
kvfs_add_cluster_test(etcd_interop test_interop.sh 25190 180)
# Large values leave nothing behind: no marker after a publish, nothing
# after EFBIG, and a mount collects the chunks nothing refers to.
kvfs_add_cluster_test(etcd_chunks test_chunks.sh 25200 120)
# rename(2) of directories of 10, 1,000 and 10,000 entries, and in steps
# under kill -9: the next mount completes it, nothing lost or doubled.
kvfs_add_cluster_test(etcd_big_rename test_big_rename.sh 25210 300)
