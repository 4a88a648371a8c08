/*
 * etcd_test_cluster.h - a real etcd cluster for the etcd backend's tests,
 * started with mount-scripts/etcd-cluster on 127.0.0.1 ports of the
 * test's own, and stopped again by pid when the test process ends in any
 * way (a guard process waits for it to exit), also after a crash.
 */
#ifndef KVFS_ETCD_TEST_CLUSTER_H
#define KVFS_ETCD_TEST_CLUSTER_H

#include <stdbool.h>

/* Exit 77 with "SKIPPED: <why>" when etcd or etcdctl is not installed. */
void etcd_test_require_etcd(void);

/* Start `members` members with client ports base_port, base_port+2, ...
 * Returns the endpoints (malloc'd, comma-separated) or NULL. */
char *etcd_test_cluster_start(const char *tag, int members, int base_port);

/* Run "etcd-cluster CMD --dir DIR ARGS" for the running cluster, e.g.
 * ("stop", ""), ("restart", "--member 1"); returns its exit status. */
int etcd_test_cluster_cmd(const char *cmd, const char *args);

/* Delete every key starting with prefix, straight through the gateway of
 * endpoint (not through the backend). 0 or -1. */
int etcd_test_delete_prefix(const char *endpoint, const char *prefix);

/* Count keys starting with prefix, or -1. */
long etcd_test_count_prefix(const char *endpoint, const char *prefix);

#endif
