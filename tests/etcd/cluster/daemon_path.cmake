# Sets KVFS_DAEMON_PATH to the kvfs daemon built by fs/ (whatever its
# target is called), or to where it would be, for the cluster tests and
# bench_etcd, which skip when it is not there.
set(KVFS_DAEMON_PATH ${CMAKE_BINARY_DIR}/fs/kvfs)
foreach(_t kvfs_daemon kvfsd kvfs-fs kvfs_fs kvfs-daemon kvfs_bin kvfs_exe)
  if(TARGET ${_t})
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "EXECUTABLE")
      set(KVFS_DAEMON_PATH $<TARGET_FILE:${_t}>)
      break()
    endif()
  endif()
endforeach()
