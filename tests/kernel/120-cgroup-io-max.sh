#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Encrypted writes are charged to the writer's cgroup: a cgroup v2 io.max
# write limit on the backing device holds for buffered writes through ext4
# on ebscrypt, although the flusher (not the writer) submits them. dm-crypt
# is measured the same way in the same boot as the reference; both must
# stay within 20% of the limit.
# vm-args: --disk 128M --disk 128M --timeout 420
. /tests/kernel/lib.sh

LIMIT=$((4 * 1048576))	# bytes per second
MIB=24
CG=/sys/fs/cgroup

cgroup_setup() {
	mkdir -p "$CG"
	grep -q " $CG cgroup2 " /proc/mounts || mount -t cgroup2 none "$CG"
	# Writeback is charged per cgroup only with both controllers on.
	echo "+memory +io" > "$CG/cgroup.subtree_control"
	mkdir -p "$CG/limited"
}

# rate DEV MAPPED: MiB/s of a buffered write of $MIB MiB plus fsync, through
# ext4 on MAPPED, by a process in a cgroup whose io.max limits DEV.
rate() {
	local dev=$1 mapped=$2 t0 t1 majmin
	majmin=$(cat "/sys/class/block/${dev#/dev/}/dev")
	mkfs.ext4 -q -F "$mapped"
	mkdir -p /mnt/t
	mount -t ext4 "$mapped" /mnt/t
	echo "$majmin wbps=$LIMIT" > "$CG/limited/io.max"
	head -c $((MIB * 1048576)) /dev/urandom > /tmp/data
	sync
	t0=$(cut -d' ' -f1 /proc/uptime)
	sh -c 'echo $$ > '"$CG"'/limited/cgroup.procs; exec dd if=/tmp/data of=/mnt/t/f bs=1M conv=fsync status=none'
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "$majmin wbps=max" > "$CG/limited/io.max"
	umount /mnt/t
	awk -v m="$MIB" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", m / (b - a) }'
}

within_20_percent() {
	awk -v r="$1" -v l="$((LIMIT / 1048576))" 'BEGIN { exit !(r >= 0.8 * l && r <= 1.2 * l) }'
}

dm_crypt_holds_the_limit() {
	cgroup_setup
	ebs_key cg
	cs_open cs /dev/vdb 2048 cg 4096
	r=$(rate /dev/vdb /dev/mapper/cs)
	cryptsetup close cs
	echo "dm-crypt: $r MiB/s against a limit of $((LIMIT / 1048576)) MiB/s"
	echo "$r" > /tmp/rate.dmcrypt
	within_20_percent "$r"
}

ebscrypt_holds_the_limit() {
	cgroup_setup
	ebs_key cg2
	ebs_create eb /dev/vda 2048 cg2 4096
	r=$(rate /dev/vda /dev/mapper/eb)
	dmsetup remove eb
	echo "ebscrypt: $r MiB/s against a limit of $((LIMIT / 1048576)) MiB/s (dm-crypt: $(cat /tmp/rate.dmcrypt 2>/dev/null))"
	within_20_percent "$r"
}

test_that "dm-crypt buffered writes stay within 20% of an io.max limit on its backing device (reference)" dm_crypt_holds_the_limit
test_that "ebscrypt buffered writes stay within 20% of an io.max limit on its backing device" ebscrypt_holds_the_limit
cleanup_maps
tap_done
