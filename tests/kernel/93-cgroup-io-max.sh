#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Encrypted writes are charged to the writer's cgroup: a cgroup v2 io.max
# write limit on the backing device holds for buffered writes through ext4
# on ebscrypt, although the flusher (not the writer) submits them. dm-crypt
# is measured the same way in the same boot as the reference. Neither may
# go more than 20% over the limit; ebscrypt must come within 20% of it, or
# of dm-crypt's rate where a loaded host held dm-crypt below the limit.
# vm-args: --disk 96M --disk 96M --timeout 420
. /tests/kernel/lib.sh

CG=/sys/fs/cgroup

# Writeback is charged per cgroup only with both controllers on.
cgroup_setup() { cgroup_child limited "+memory +io"; }

# rate DEV MAPPED LIMIT MIB: bytes/s of a buffered write of MIB MiB, until
# written back, through ext4 on MAPPED, by a process in a cgroup whose
# io.max limits writes to DEV at LIMIT bytes/s (0: no limit).
rate() {
	local dev=$1 mapped=$2 limit=$3 mib=$4 t0 t1 majmin
	majmin=$(cat "/sys/class/block/${dev#/dev/}/dev")
	mkfs.ext4 -q -F "$mapped"
	mkdir -p /mnt/t
	mount -t ext4 "$mapped" /mnt/t
	[ "$limit" = 0 ] || echo "$majmin wbps=$limit" > "$CG/limited/io.max"
	head -c $((mib * 1048576)) /dev/urandom > /tmp/data
	sync
	t0=$(cut -d' ' -f1 /proc/uptime)
	# The writer only dirties the page cache; sync, from outside its
	# cgroup, has the flusher write it back: the writes ebscrypt then
	# sees are submitted by a kernel worker, not by the writer.
	sh -c 'echo $$ > '"$CG"'/limited/cgroup.procs; exec dd if=/tmp/data of=/mnt/t/f bs=1M status=none'
	sync
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "$majmin wbps=max" > "$CG/limited/io.max"
	umount /mnt/t
	awk -v m="$mib" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d\n", m * 1048576 / (b - a) }'
}

within_20_percent() {
	awk -v r="$1" -v l="$2" 'BEGIN { exit !(r >= 0.8 * l && r <= 1.2 * l) }'
}

# The limit binds: never more than 20% over it. (Below it is the host's
# doing when other guests take the CPU: the flusher then submits too
# slowly to reach the limit, for dm-crypt as much as for ebscrypt.)
at_most_20_percent_over() {
	awk -v r="$1" -v l="$2" 'BEGIN { exit !(r <= 1.2 * l) }'
}

# The limit is an eighth of what ebscrypt writes unthrottled in this boot
# (at most 4 MiB/s), so it binds however fast or slow the emulation runs,
# even when the host's other work takes most of the guest's CPU for a
# while (at a quarter, a loaded host brought dm-crypt and ebscrypt alike to
# 77% of the limit), and writes of about 12 s at the limit, long enough
# that the throttle's first slice and the journal's own writes do not count.
calibrate() {
	cgroup_setup
	ebs_key cg
	ebs_create eb /dev/vda 2048 cg 4096
	free=$(rate /dev/vda /dev/mapper/eb 0 16)
	dmsetup remove eb
	limit=$((free / 8 / 65536 * 65536))
	[ "$limit" -le $((4 * 1048576)) ] || limit=$((4 * 1048576))
	[ "$limit" -ge 262144 ] || limit=262144
	mib=$((limit * 12 / 1048576)); [ "$mib" -ge 3 ] || mib=3
	echo "$limit $mib" > /tmp/cg.limit
	echo "unthrottled $((free / 1024)) KiB/s; limit $((limit / 1024)) KiB/s, $mib MiB per write"
}

dm_crypt_holds_the_limit() {
	read -r limit mib < /tmp/cg.limit
	cs_open cs /dev/vdb 2048 cg 4096
	r=$(rate /dev/vdb /dev/mapper/cs "$limit" "$mib")
	cryptsetup close cs
	echo "dm-crypt: $((r / 1024)) KiB/s against a limit of $((limit / 1024)) KiB/s"
	echo "$r" > /tmp/rate.dmcrypt
	at_most_20_percent_over "$r" "$limit"
}

# Within 20% of the limit, or, when dm-crypt itself fell short of it in
# this boot, within 20% of dm-crypt's rate: what the host let through.
ebscrypt_holds_the_limit() {
	local ref
	read -r limit mib < /tmp/cg.limit
	ebs_create eb /dev/vda 2048 cg 4096
	r=$(rate /dev/vda /dev/mapper/eb "$limit" "$mib")
	dmsetup remove eb
	ref=$(cat /tmp/rate.dmcrypt)
	echo "ebscrypt: $((r / 1024)) KiB/s against a limit of $((limit / 1024)) KiB/s (dm-crypt: $((ref / 1024)) KiB/s)"
	at_most_20_percent_over "$r" "$limit"
	[ "$ref" -lt "$limit" ] || ref=$limit
	within_20_percent "$r" "$ref"
}

test_that "ebscrypt's unthrottled buffered write rate is measured to set the limit" calibrate
test_that "an io.max limit on dm-crypt's backing device binds its buffered writes (the reference rate)" dm_crypt_holds_the_limit
test_that "ebscrypt buffered writes stay within 20% of an io.max limit on its backing device, or of dm-crypt's rate when the host holds both below it" ebscrypt_holds_the_limit
cleanup_maps
tap_done
