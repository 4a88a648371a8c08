#!/bin/bash
# test_bad_input.sh - mounting kvfs on etcd with bad settings fails with a
# one-line message, exit status 1, and nothing mounted:
#  - malformed endpoint URLs, prefer= out of range;
#  - an unreachable cluster at mount time;
#  - a wrong password on a cluster with authentication enabled (and the
#    right one works);
#  - a second mount of a journal directory in use, refused naming the pid
#    of the daemon that holds it;
#  - a TLS CA certificate that does not match the cluster's (and the
#    matching one works), no client certificate where the cluster requires
#    one (and with one it works); the certificates are made with openssl.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount

# expect_mount_failure NAME OPTIONS PATTERN: kvfs, started as users start
# it (it detaches once mounted), must return 1 with exactly one line on
# stderr matching PATTERN (grep -E -i), without ever mounting.
expect_mount_failure() {
	local name=$1 opts=$2 pattern=$3 mnt=$kt_work/bad-$1 t0 rc=0 lines
	mkdir -p "$mnt"
	kt_mounts+=("$mnt")
	t0=$(kt_now_ms)
	timeout -k 5 40 "$KT_KVFS" "$mnt" -o "$opts" >"$kt_work/bad-$name.out" \
		2>"$kt_work/bad-$name.err" </dev/null || rc=$?
	if kt_is_mounted "$mnt"; then
		# What does using it give? Note it, then unmount.
		timeout 20 bash -c "printf x | tee '$mnt/probe'" >/dev/null 2>"$kt_work/bad-$name.use"
		fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"
		kt_fail_later "$name: kvfs mounted with -o $opts (status $rc; a write then gave: $(cat "$kt_work/bad-$name.use"))"
		return
	fi
	[ $rc -ne 124 ] && [ $rc -ne 137 ] || kt_fail "$name: kvfs neither failed nor mounted in 40 s"
	[ $rc -eq 1 ] || kt_fail_later "$name: exit status $rc, expected 1 (stderr: $(cat "$kt_work/bad-$name.err"))"
	lines=$(grep -c . "$kt_work/bad-$name.err")
	[ "$lines" -eq 1 ] ||
		kt_fail_later "$name: expected a one-line error, got $lines lines: $(cat "$kt_work/bad-$name.err")"
	grep -qiE "$pattern" "$kt_work/bad-$name.err" ||
		kt_fail_later "$name: the message does not match /$pattern/: $(cat "$kt_work/bad-$name.err")"
	kt_log "$name ($(($(kt_now_ms) - t0)) ms): $(cat "$kt_work/bad-$name.err")"
}

# expect_mount_works NAME OPTIONS: mounts, a strong write and read work.
expect_mount_works() {
	kt_mount "$1" "$2"
	kt_put "$kt_work/$1/probe" "ok-$1" || kt_fail "$1: write through a good mount"
	[ "$(kt_cat "$kt_work/$1/probe")" = "ok-$1" ] || kt_fail "$1: read back through a good mount"
	kt_umount "$1"
	kt_log "$1: mounts and works"
}

journal=$kt_work/journal
unused=$((KT_BASE_PORT + 9))

# --- malformed endpoints ------------------------------------------------
expect_mount_failure empty-endpoints "backend=etcd,endpoints=,journal=$journal-$RANDOM" "endpoint"
expect_mount_failure no-endpoints "backend=etcd,journal=$journal-$RANDOM" "endpoint"
expect_mount_failure bad-scheme "backend=etcd,endpoints=ftp://127.0.0.1:$unused,journal=$journal-$RANDOM" "ftp|scheme|endpoint|url"
expect_mount_failure no-host "backend=etcd,endpoints=http://,journal=$journal-$RANDOM" "endpoint|url|host"
expect_mount_failure bad-port "backend=etcd,endpoints=http://127.0.0.1:notaport,journal=$journal-$RANDOM" "notaport|port|endpoint|url"
expect_mount_failure port-range "backend=etcd,endpoints=http://127.0.0.1:99999,journal=$journal-$RANDOM" "99999|port|endpoint|url"
expect_mount_failure prefer-range "backend=etcd,endpoints=http://127.0.0.1:$unused,prefer=3,journal=$journal-$RANDOM" "prefer"

# --- nothing listening -------------------------------------------------
expect_mount_failure unreachable "backend=etcd,endpoints=http://127.0.0.1:$unused,http://127.0.0.1:$((unused - 1)),journal=$journal-$RANDOM" \
	"127\.0\.0\.1:($unused|$((unused - 1)))"

# --- authentication ------------------------------------------------------
kt_cluster_start 1 0 auth
ETCDCTL_API=3 etcdctl --endpoints="$KT_EPS" user add root --new-user-password=kvfs-secret \
	--interactive=false >/dev/null || kt_fail "etcdctl user add root"
ETCDCTL_API=3 etcdctl --endpoints="$KT_EPS" user grant-role root root >/dev/null ||
	kt_fail "etcdctl user grant-role root root"
ETCDCTL_API=3 etcdctl --endpoints="$KT_EPS" auth enable >/dev/null 2>&1 || kt_fail "etcdctl auth enable"
printf 'wrong-password\n' >"$kt_work/wrong.pw"
printf 'kvfs-secret\n' >"$kt_work/right.pw"
chmod 600 "$kt_work"/*.pw
auth_eps=$KT_EPS
expect_mount_failure no-auth "backend=etcd,endpoints=$auth_eps,journal=$journal-$RANDOM" \
	"auth|user|password|permission|credential"
expect_mount_failure wrong-password \
	"backend=etcd,endpoints=$auth_eps,user=root,password_file=$kt_work/wrong.pw,journal=$journal-$RANDOM" \
	"auth|password|credential"
expect_mount_failure missing-password-file \
	"backend=etcd,endpoints=$auth_eps,user=root,password_file=$kt_work/none.pw,journal=$journal-$RANDOM" \
	"none\.pw"
expect_mount_works auth-ok \
	"backend=etcd,endpoints=$auth_eps,user=root,password_file=$kt_work/right.pw,journal=$journal-$RANDOM"

# --- one mount per journal ---------------------------------------------
held="backend=etcd,endpoints=$auth_eps,user=root,password_file=$kt_work/right.pw,journal=$journal-held"
kt_mount held "$held"
expect_mount_failure journal-in-use "$held" \
	"journal=$journal-held: in use by kvfs pid $KT_PID_held; give each mount its own journal="
kt_umount held

# --- TLS -----------------------------------------------------------------
if ! command -v openssl >/dev/null; then
	kt_log "SKIPPED part: openssl not installed, TLS cases not run"
	kt_finish
	exit 0
fi
tls=$kt_work/tls
mkdir -p "$tls"
(
	cd "$tls" || exit 1
	for ca in ca1 ca2; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout $ca.key -out $ca.crt -days 2 -subj "/CN=kvfs test $ca" || exit 1
	done
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout server.key -out server.csr -subj "/CN=127.0.0.1" || exit 1
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >ext
	openssl x509 -req -in server.csr -CA ca1.crt -CAkey ca1.key -CAcreateserial \
		-out server.crt -days 2 -extfile ext || exit 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout client.key -out client.csr -subj "/CN=kvfs client" || exit 1
	printf 'extendedKeyUsage=clientAuth\n' >client.ext
	openssl x509 -req -in client.csr -CA ca1.crt -CAkey ca1.key -CAcreateserial \
		-out client.crt -days 2 -extfile client.ext || exit 1
) >"$kt_work/openssl.log" 2>&1 || kt_fail "making test certificates with openssl"
kt_cluster_start 1 4 tls --cert "$tls/server.crt" --key "$tls/server.key"
case $KT_EPS in https://*) ;; *) kt_fail "the TLS cluster does not serve https: $KT_EPS" ;; esac
expect_mount_failure tls-wrong-ca "backend=etcd,endpoints=$KT_EPS,cacert=$tls/ca2.crt,journal=$journal-$RANDOM" \
	"certificate|ssl|tls|verif"
expect_mount_failure tls-missing-ca "backend=etcd,endpoints=$KT_EPS,cacert=$tls/none.crt,journal=$journal-$RANDOM" \
	"none\.crt"
expect_mount_works tls-ok "backend=etcd,endpoints=$KT_EPS,cacert=$tls/ca1.crt,journal=$journal-$RANDOM"

# A cluster that also requires client certificates.
kt_cluster_start 1 6 mtls --cert "$tls/server.crt" --key "$tls/server.key" --cacert "$tls/ca1.crt"
expect_mount_failure mtls-no-cert "backend=etcd,endpoints=$KT_EPS,cacert=$tls/ca1.crt,journal=$journal-$RANDOM" \
	"certificate|ssl|tls|handshake|alert"
expect_mount_works mtls-ok \
	"backend=etcd,endpoints=$KT_EPS,cacert=$tls/ca1.crt,cert=$tls/client.crt,key=$tls/client.key,journal=$journal-$RANDOM"
kt_finish
