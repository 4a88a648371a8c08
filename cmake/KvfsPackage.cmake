# The Debian package: `cpack -G DEB` in a build directory makes
# kvfs_VERSION_ARCH.deb with the daemon, mount.kvfs, the systemd unit,
# the man pages, the library with its headers and kvfs.pc, and the SQLite
# plugin, all under /usr (mount.kvfs in /usr/sbin: /sbin on merged /usr).
# Files that name install paths are written for /usr whatever prefix the
# build was configured with (cmake/KvfsInstall.cmake).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kvfs)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "key-value store mounted as a directory (FUSE)")
set(CPACK_PACKAGE_DESCRIPTION
"kvfs mounts a key-value store as a directory: every key is a file, its
value the file's contents, and a '/' in a key makes directories. Reads and
writes carry a consistency level (strong, eventual, read-your-writes,
causal) chosen per mount, directory or file. Backends: a local directory,
etcd, and plugins (a SQLite one included). Contains the kvfs daemon,
mount.kvfs for mount(8) and /etc/fstab, a systemd unit template, and
libkvfs with its headers and pkg-config file.")
set(KVFS_PACKAGE_MAINTAINER "kvfs maintainers <kvfs@invalid>" CACHE STRING
    "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${KVFS_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Install as `cmake --install --prefix /usr` into DESTDIR: the prefix seen
# by the install-time templates is /usr, not cpack's staging directory.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Libraries found by dpkg-shlibdeps (dpkg-dev) in the ELF files: libfuse3-3,
# libconfig9, libcurl4, libjansson4, libsqlite3-0, libc6. fuse3 (for
# fusermount3, which the unit's ExecStop and unprivileged mounts run) is
# no library dependency.
find_program(KVFS_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(KVFS_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "fuse3, libfuse3-3 (>= 3.14), libconfig9, libcurl4, libjansson4 (>= 2.14), libsqlite3-0, libc6 (>= 2.36)")
endif()
# A shlibs file for libkvfs.so.0, and ldconfig on install and removal.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
include(CPack)
