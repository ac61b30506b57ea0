#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The key lives only in the target: never in the table, not needed in the
# keyring after the load, changed only while suspended, and a device without
# a key refuses to resume.
# vm-args: --disk 64M
. /tests/kernel/lib.sh

D=/dev/vda
setup() {
	cleanup_maps
	ebs_key life
	pattern /tmp/plain 4194304
	ebs_create eb "$D" 2048 life 4096
	dd if=/tmp/plain of=/dev/mapper/eb bs=1M oflag=direct status=none
}
readback() { dd if=/dev/mapper/eb bs=1M count=4 iflag=direct status=none | sha; }

table_never_shows_key_bytes() {
	setup
	table=$(dmsetup table eb)
	echo "$table"
	echo "$table" | grep -q ":64:logon:ebscrypt:life"
	hex=$(od -An -tx1 "$KEYDIR/life" | tr -d ' \n')
	refute grep -qi "${hex:0:16}" <<<"$table"
	table=$(dmsetup table --showkeys eb)
	refute grep -qi "${hex:0:16}" <<<"$table"
}

table_round_trips() {
	setup
	dmsetup table eb | cut -d' ' -f1- > /tmp/t1
	dmsetup create eb2 --table "$(dmsetup table eb)" --readonly
	dmsetup table eb2 > /tmp/t2
	dmsetup remove eb2
	diff /tmp/t1 /tmp/t2
	dmsetup create eb3 --table "0 8 ebscrypt $D 2048 :64:logon:ebscrypt:life 2 allow_discards sector_size:4096"
	t=$(dmsetup table eb3)
	dmsetup remove eb3
	dmsetup create eb3 --table "$t"
	assert_eq "$(dmsetup table eb3)" "$t"
	dmsetup remove eb3
}

io_continues_after_keyring_key_is_invalidated() {
	setup
	keyctl invalidate "$(keyctl search @s logon ebscrypt:life)"
	# The key's garbage collector runs a moment later, and only once nothing
	# (the target included) holds a reference: then it is gone from /proc/keys.
	for _ in $(seq 1 50); do grep -q "ebscrypt:life" /proc/keys || break; sleep 0.1; done
	refute grep -q "ebscrypt:life" /proc/keys
	assert_eq "$(readback)" "$(sha < /tmp/plain)"
	dd if=/dev/urandom of=/dev/mapper/eb bs=1M count=1 seek=1 oflag=direct status=none
}

status_reports_state() {
	setup
	st=$(dmsetup status eb)
	echo "$st"
	set -- $st
	assert_eq "$4" key_loaded; assert_eq "$5" 4096
	case "$6" in xts-aes-*) ;; *) echo "driver $6"; return 1 ;; esac
	[ "${8}" -ge 4 ] # writes
}

wipe_refused_while_active() {
	setup
	refute dmsetup message eb 0 key wipe
	assert_eq "$(readback)" "$(sha < /tmp/plain)"
}

set_refused_while_active() {
	setup
	refute dmsetup message eb 0 key set :64:logon:ebscrypt:life
}

resume_without_key_fails() {
	setup
	dmsetup suspend eb
	dmsetup message eb 0 key wipe
	assert_eq "$(dmsetup status eb | cut -d' ' -f4)" key_wiped
	refute dmsetup resume eb
	dmsetup info eb | grep -q SUSPENDED
}

key_set_and_resume_restores_data() {
	resume_without_key_fails
	dmsetup message eb 0 key set :64:logon:ebscrypt:life
	dmsetup resume eb
	assert_eq "$(readback)" "$(sha < /tmp/plain)"
}

wrong_key_set_gives_other_data() {
	setup
	ebs_key other
	dmsetup suspend eb
	dmsetup message eb 0 key wipe
	dmsetup message eb 0 key set :64:logon:ebscrypt:other
	dmsetup resume eb
	dmsetup table eb | grep -q ebscrypt:other
	[ "$(readback)" != "$(sha < /tmp/plain)" ]
}

bad_messages_refused() {
	setup
	dmsetup suspend eb
	for m in "key" "key wipe now" "key set" "key set 0123456789abcdef" "key set :64:user:ebscrypt:life" \
		 "key set :64:logon:ebscrypt:missing" "foo bar" "key unwipe"; do
		# shellcheck disable=SC2086
		refute dmsetup message eb 0 $m || { echo "accepted: $m"; return 1; }
	done
	# A refused key set leaves the old key in place.
	dmsetup resume eb
	assert_eq "$(readback)" "$(sha < /tmp/plain)"
}

module_unloads_after_remove() {
	setup
	refute rmmod dm_ebscrypt
	dmsetup remove eb
	rmmod dm_ebscrypt
	refute grep -q '^dm_ebscrypt ' /proc/modules
	modprobe dm-ebscrypt
	dmsetup targets | grep -q ebscrypt
}

test_that "dmsetup table names the logon key and never shows key bytes" table_never_shows_key_bytes
test_that "dmsetup table round-trips through the constructor" table_round_trips
test_that "I/O continues after the keyring key is invalidated" io_continues_after_keyring_key_is_invalidated
test_that "dmsetup status reports key state, sector size, cipher driver and counters" status_reports_state
test_that "key wipe is refused while the device is active" wipe_refused_while_active
test_that "key set is refused while the device is active" set_refused_while_active
test_that "resume after suspend and key wipe fails" resume_without_key_fails
test_that "key set then resume brings the data back intact" key_set_and_resume_restores_data
test_that "key set with another key is honoured" wrong_key_set_gives_other_data
test_that "malformed messages are refused and leave the key in place" bad_messages_refused
test_that "the module unloads cleanly after dmsetup remove" module_unloads_after_remove
cleanup_maps
tap_done
