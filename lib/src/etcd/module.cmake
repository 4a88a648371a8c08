# The etcd backend: etcd v3 through its JSON gateway with libcurl and
# jansson. Included from lib/CMakeLists.txt; paths are relative to lib/.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
list(APPEND KVFS_LIB_SOURCES
  src/etcd/etcd.c     # the backend: options, levels, controls, watch
  src/etcd/ops.c      # the key layout and each operation as a txn
  src/etcd/chunks.c   # large values' chunks: write markers, collection
  src/etcd/http.c     # gateway client: failover, auth, TLS, base64
  src/etcd/members.c  # members that stopped answering, and their probe
  src/etcd/journal.c  # the eventual journal and its replication
  src/etcd/journal_index.c # its pending entries by key and directory
)
list(APPEND KVFS_LIB_DEPS PkgConfig::CURL PkgConfig::JANSSON)
