#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Asynchronous crypto drivers: with cryptd forced in front of the cipher
# (the table's cipher_driver option), every request completes through the
# callback (-EINPROGRESS), and with a cryptd queue of 2 the backlog path
# (-EBUSY) is taken too. Results must be identical to dm-crypt's and fio
# verification must hold.
# vm-args: --disk 128M --append cryptd.cryptd_max_cpu_qlen=2
. /tests/kernel/lib.sh

# cryptd's queue length is a load-time parameter: a built-in cryptd (the
# debug kernel) reads it from the kernel's command line, a modular one gets
# it here, if nothing has loaded cryptd yet in this boot (nothing does
# before us).
if grep -q '^cryptd ' /proc/modules; then
	echo "# cryptd already loaded: the backlog path may not be exercised"
else
	modprobe cryptd cryptd_max_cpu_qlen=2 2>/dev/null || true
fi
ASYNC="cipher_driver:$(async_cipher)"

status_names_the_async_driver() {
	cleanup_maps
	ebs_key a
	ebs_create eb /dev/vda 2048 a 4096 "$ASYNC"
	dmsetup status eb | tee /dev/stderr | grep -q "cryptd("
}

table_names_the_driver_and_round_trips() {
	cleanup_maps
	ebs_key t
	# The driver the kernel picks by default, now named in the table.
	ebs_create eb /dev/vda 2048 t 4096
	drv=$(dmsetup status eb | cut -d' ' -f6)
	if dmsetup table eb | grep -q cipher_driver; then
		echo "the default driver is named in the table"; return 1
	fi
	dmsetup remove eb
	ebs_create eb /dev/vda 2048 t 4096 "cipher_driver:$drv"
	t=$(dmsetup table eb)
	echo "$t"
	echo "$t" | grep -qF " 2 sector_size:4096 cipher_driver:$drv"
	dmsetup remove eb
	dmsetup create eb --table "$t"
	assert_eq "$(dmsetup table eb)" "$t"
	assert_eq "$(dmsetup status eb | cut -d' ' -f6)" "$drv"
	dmsetup remove eb
}

async_matches_dm_crypt() {
	cleanup_maps
	ebs_key a
	pattern /tmp/plain 8388608
	ebs_create eb /dev/vda 2048 a 4096 "$ASYNC"
	dd if=/tmp/plain of=/dev/mapper/eb bs=1M oflag=direct status=none
	got=$(dd if=/dev/mapper/eb bs=1M count=8 iflag=direct status=none | sha)
	dmsetup remove eb
	assert_eq "$got" "$(sha < /tmp/plain)" "async read back"
	cs_open cs /dev/vda 2048 a 4096
	got=$(dd if=/dev/mapper/cs bs=1M count=8 iflag=direct status=none | sha)
	cryptsetup close cs
	assert_eq "$got" "$(sha < /tmp/plain)" "dm-crypt read of async-written data"
}

async_fio_verify_with_backlog() {
	cleanup_maps
	ebs_key b
	ebs_create eb /dev/vda 2048 b 4096 "$ASYNC"
	fio --name=async --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=32 \
		--numjobs=2 --offset_increment=48M --size=40M --rw=randrw --bssplit=4k/50:64k/30:1m/20 \
		--verify=crc32c --verify_backlog=16 --verify_fatal=1 --randrepeat=0 \
		--output-format=terse > /tmp/fio.async
	dmsetup remove eb
}

non_xts_driver_refused() {
	cleanup_maps
	ebs_key c
	refute ebs_create eb /dev/vda 2048 c 4096 "cipher_driver:cbc(aes)"
	dmesg | grep -q "does not implement xts(aes)"
	for bad in "cipher_driver:no-such-cipher" "cipher_driver:" \
		   "cipher_driver:xts(aes) cipher_driver:xts(aes)"; do
		# shellcheck disable=SC2086
		refute ebs_create eb /dev/vda 2048 c 4096 $bad || { echo "accepted: $bad"; return 1; }
	done
	refute dmsetup info eb
}

test_that "the table's cipher_driver option shows in dmsetup table and round-trips" table_names_the_driver_and_round_trips
if [ "$ASYNC" = "cipher_driver:" ]; then
	for t in "dmsetup status names the asynchronous driver in use" \
		 "an asynchronous cipher driver writes what dm-crypt reads" \
		 "fio verification holds on an asynchronous driver with a backlogged queue"; do
		tap_skip "$t" "this kernel has no asynchronous xts(aes) driver (no cryptd)"
	done
else
	test_that "dmsetup status names the asynchronous driver in use" status_names_the_async_driver
	test_that "an asynchronous cipher driver writes what dm-crypt reads" async_matches_dm_crypt
	test_that "fio verification holds on an asynchronous driver with a backlogged queue" async_fio_verify_with_backlog
fi
test_that "a cipher_driver that is not xts(aes) is refused" non_xts_driver_refused
cleanup_maps
tap_done
