# Cache, plugin loader and configuration modules (included from
# lib/CMakeLists.txt, so paths are relative to lib/), and the example
# SQLite plugin.
pkg_check_modules(LIBCONFIG REQUIRED IMPORTED_TARGET libconfig)

list(APPEND KVFS_LIB_SOURCES
  src/cache.c        # cache=SIZE: bounded LRU decorator over any backend
  src/plugin.c       # backend=plugin: dlopen loader for backend plugins
  src/config.c       # config=FILE: libconfig settings and prefix rules
)
list(APPEND KVFS_LIB_DEPS PkgConfig::LIBCONFIG ${CMAKE_DL_LIBS})

add_subdirectory(${CMAKE_CURRENT_SOURCE_DIR}/plugins/sqlite
                 ${CMAKE_CURRENT_BINARY_DIR}/plugins/sqlite)
