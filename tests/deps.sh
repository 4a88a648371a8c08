# tests/deps.sh - sourced by tests/run and mount-scripts/quickstart: install
# the Debian packages kvfs needs to build, run and test, when missing.
KVFS_DEB_PACKAGES=(
	cmake gcc clang make pkg-config
	libfuse3-dev fuse3
	libcmocka-dev libconfig-dev libcurl4-openssl-dev libjansson-dev
	libsqlite3-dev
	etcd-server etcd-client
	attr gcovr openssl python3 systemd zsh
	dpkg-dev man-db util-linux # the package: dpkg-shlibdeps, man -w, prlimit
	git rsync sqlite3 acl
)

kvfs_install_deps() {
	local missing=() pkg
	for pkg in "${KVFS_DEB_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "Installing Debian packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "kvfs: installing packages needs root (run as root or with sudo)" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q "${missing[@]}"
}
