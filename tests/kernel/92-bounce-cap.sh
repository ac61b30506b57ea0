#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Bounce memory has an upper bound: 64 writers of 1 MiB each at once, in a
# small guest, would need 64 MiB of bounce pages; the target caps what all
# writes in flight hold at a share of RAM (2%, split over the devices),
# reports the cap and the most it ever held in dmsetup status, and every
# byte still verifies.
# vm-args: --mem 1024 --disk 160M --timeout 420
. /tests/kernel/lib.sh

# status: ... <io_errors> <crypt_errors> <bounce_pages> <bounce_peak> <bounce_cap>
bounce() { dmsetup status "$1" | awk '{ print $13, $14, $15 }'; }
# The fewest pages a device's share may shrink to: eight 1 MiB writes.
floor=2048

status_shows_the_cap() {
	cleanup_maps
	ebs_key cap
	ebs_create eb /dev/vda 2048 cap 4096
	read -r now peak cap <<< "$(bounce eb)"
	echo "bounce_pages=$now bounce_peak=$peak bounce_cap=$cap"
	assert_eq "$now" 0 "nothing in flight on an idle device"
	ram_pages=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 4 ))
	# 2% of RAM, but at least eight 1 MiB writes.
	want=$(( ram_pages * 2 / 100 )); [ "$want" -ge "$floor" ] || want=$floor
	[ "$cap" -ge $((want * 9 / 10)) ] && [ "$cap" -le $((want * 11 / 10)) ] ||
		{ echo "cap $cap, expected about $want"; return 1; }
}

the_cap_is_split_between_devices() {
	read -r _ _ one <<< "$(bounce eb)"
	dmsetup create eb2 --readonly --table "$(dmsetup table eb)"
	read -r _ _ two <<< "$(bounce eb)"
	dmsetup remove eb2
	echo "cap alone $one, with a second device $two"
	# The guest has RAM enough for half of 2% to stay above the floor.
	[ "$two" -ge $((one * 45 / 100)) ] && [ "$two" -le $((one * 55 / 100)) ]
}

writers_stay_under_the_cap_and_verify() {
	fio --name=w --filename=/dev/mapper/eb --thread --numjobs=64 --direct=1 \
		--ioengine=psync --rw=write --bs=1m --size=2m --offset_increment=2m \
		--verify=crc32c --verify_fatal=1 --group_reporting --output-format=terse > /tmp/fio.cap
	read -r now peak cap <<< "$(bounce eb)"
	echo "after: bounce_pages=$now bounce_peak=$peak bounce_cap=$cap"
	[ "$peak" -gt 0 ] || { echo "no bounce pages were ever counted"; return 1; }
	[ "$peak" -le "$cap" ] || { echo "peak $peak exceeds the cap $cap"; return 1; }
	# 64 writers of 256 pages each would need far more than the cap.
	[ $((64 * 256)) -gt "$cap" ]
	assert_eq "$now" 0 "every bounce page given back"
}

data_reads_back_through_dm_crypt() {
	dmsetup remove eb
	cs_open cs /dev/vda 2048 cap 4096
	fio --name=w --filename=/dev/mapper/cs --thread --numjobs=64 --direct=1 \
		--ioengine=psync --rw=write --bs=1m --size=2m --offset_increment=2m \
		--verify=crc32c --verify_only=1 --verify_fatal=1 --group_reporting \
		--output-format=terse > /tmp/fio.cs
	cryptsetup close cs
}

test_that "dmsetup status shows the bounce cap, 2% of RAM for one device" status_shows_the_cap
test_that "a second device halves each device's share of the cap" the_cap_is_split_between_devices
test_that "64 concurrent 1 MiB writers never hold more bounce pages than the cap, and verify" writers_stay_under_the_cap_and_verify
test_that "what the capped writers wrote reads back through dm-crypt" data_reads_back_through_dm_crypt
cleanup_maps
tap_done
