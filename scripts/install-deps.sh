#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install every Debian package the build, the tests and the benchmarks need.
# Idempotent, and quick when everything is already there: apt is only asked
# when dpkg says a package is missing.
set -eu

PKGS="build-essential make gcc pkg-config git
linux-headers-amd64 linux-image-amd64 kmod cpio xz-utils
qemu-system-x86 busybox-static
cryptsetup-bin dmsetup keyutils fio e2fsprogs util-linux
libdevmapper-dev libkeyutils-dev libssl-dev libcurl4-openssl-dev
libjson-c-dev libsqlite3-dev libmicrohttpd-dev libcmocka-dev libblkid-dev
sqlite3 curl jq openssl bc xxd python3 gnuplot-nox sparse
xfsprogs dosfstools fdisk clang libclang-rt-14-dev
iproute2 nbd-server nbd-client qemu-utils mmdebstrap bash-completion
debhelper dh-dkms dkms lintian fakeroot dpkg-dev
dwarves debian-archive-keyring"

# Optional extras: awscli/botocore for the SDK cross-check of the KMS.
# Missing ones only skip those tests. (clang, for the fuzz targets, is required.)
OPT_PKGS="awscli python3-botocore linux-source-6.1 flex bison libelf-dev"

missing=""
for p in $PKGS $OPT_PKGS; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
for p in $OPT_PKGS; do
	apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
		echo "install-deps: optional package $p not available, its tests will be skipped" >&2
done
