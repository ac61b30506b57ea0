#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every malformed table is refused with an error, and none of them makes
# the kernel warn (the harness fails the run on any kernel warning).
# vm-args: --disk 64M --disk 64M
. /tests/kernel/lib.sh

ebs_key good
head -c 32 /dev/urandom > "$KEYDIR/short"
keyctl padd logon ebscrypt:short @s < "$KEYDIR/short" > /dev/null
head -c 64 /dev/urandom | keyctl padd user ebscrypt:usertype @s > /dev/null
revoked=$(head -c 64 /dev/urandom | keyctl padd logon ebscrypt:revoked @s)
keyctl revoke "$revoked"
invalidated=$(head -c 64 /dev/urandom | keyctl padd logon ebscrypt:gone @s)
keyctl invalidate "$invalidated"
HEX=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')
K=":64:logon:ebscrypt:good"
D=/dev/vda
LEN=$(( $(blockdev --getsz $D) - 2048 ))
# A 4096-byte-sector mapping on a device with 4096-byte logical blocks is
# fine, a 512-byte one is not: emulate such a device with a 4K ebscrypt.
ebs_create big4k /dev/vdb 0 good 4096
BIG4K=/dev/mapper/big4k

# table_refused EXPECTED-ERROR TABLE: the kernel must say why, in its own words.
table_refused() {
	local expect=$1 table=$2
	dmesg -c > /dev/null
	refute dmsetup create bad --table "$table" || { dmsetup remove bad; return 1; }
	refute dmsetup info bad || { dmsetup remove bad; echo "left a device behind"; return 1; }
	dmesg | grep "ebscrypt: " | tee /tmp/why
	grep -q "$expect" /tmp/why || { echo "expected the error to say: $expect"; return 1; }
}

while IFS='|' read -r what expect table; do
	[ -n "$what" ] || continue
	test_that "a table with $what is refused" table_refused "$expect" "$(eval echo "\"$table\"")"
done <<'LIST'
a hex key|Only keyring keys|0 $LEN ebscrypt $D 2048 $HEX
a hex key of the right length behind a colon|Malformed key|0 $LEN ebscrypt $D 2048 :$HEX
no key at all|Not enough arguments|0 $LEN ebscrypt $D 2048
no offset and no key|Not enough arguments|0 $LEN ebscrypt $D
no arguments|Not enough arguments|0 $LEN ebscrypt
a key size of 32|Key size must be 64|0 $LEN ebscrypt $D 2048 :32:logon:ebscrypt:good
a key size of 0|Key size must be 64|0 $LEN ebscrypt $D 2048 :0:logon:ebscrypt:good
a key size written as 064|Key size must be 64|0 $LEN ebscrypt $D 2048 :064:logon:ebscrypt:good
a non-numeric key size|Key size must be 64|0 $LEN ebscrypt $D 2048 :sixtyfour:logon:ebscrypt:good
a user-type key|Only logon keys|0 $LEN ebscrypt $D 2048 :64:user:ebscrypt:usertype
an encrypted-type key|Only logon keys|0 $LEN ebscrypt $D 2048 :64:encrypted:ebscrypt:good
a logon key whose payload is 32 bytes|payload is not 64 bytes|0 $LEN ebscrypt $D 2048 :64:logon:ebscrypt:short
a key that is not in the keyring|Logon key not found|0 $LEN ebscrypt $D 2048 :64:logon:ebscrypt:missing
a revoked key|Logon key not found|0 $LEN ebscrypt $D 2048 :64:logon:ebscrypt:revoked
an invalidated key|Logon key not found|0 $LEN ebscrypt $D 2048 :64:logon:ebscrypt:gone
an empty key description|Empty key description|0 $LEN ebscrypt $D 2048 :64:logon:
a key description with a space|Invalid number of optional parameters|0 $LEN ebscrypt $D 2048 :64:logon:ebscrypt: good
a key string without a type|Malformed key|0 $LEN ebscrypt $D 2048 :64
a non-numeric offset|Invalid offset|0 $LEN ebscrypt $D abc $K
a negative offset|Invalid offset|0 $LEN ebscrypt $D -8 $K
an offset with trailing garbage|Invalid offset|0 $LEN ebscrypt $D 2048x $K
an offset past the end of the device|past the end|0 8 ebscrypt $D 999999999 $K
an offset that leaves too little room for the length|past the end|0 $((LEN + 8)) ebscrypt $D 2048 $K
a device that does not exist|Device lookup failed|0 $LEN ebscrypt /dev/nonexistent 2048 $K
a bogus major:minor|Device lookup failed|0 $LEN ebscrypt 259:9999 2048 $K
an unknown optional parameter|Unknown optional parameter|0 $LEN ebscrypt $D 2048 $K 1 same_cpu_crypt_please
a duplicated allow_discards|Duplicate allow_discards|0 $LEN ebscrypt $D 2048 $K 2 allow_discards allow_discards
a duplicated sector_size|Duplicate sector_size|0 $LEN ebscrypt $D 2048 $K 2 sector_size:4096 sector_size:512
a sector size of 8192|Invalid sector_size|0 $LEN ebscrypt $D 2048 $K 1 sector_size:8192
a sector size of 256|Invalid sector_size|0 $LEN ebscrypt $D 2048 $K 1 sector_size:256
a sector size that is not a power of two|Invalid sector_size|0 $LEN ebscrypt $D 2048 $K 1 sector_size:3072
a sector size with trailing garbage|Unknown optional parameter|0 $LEN ebscrypt $D 2048 $K 1 sector_size:4096k
a sector size of 0|Invalid sector_size|0 $LEN ebscrypt $D 2048 $K 1 sector_size:0
a length that is not a multiple of the sector size|not a multiple of sector_size|0 $((LEN - 1)) ebscrypt $D 2048 $K 1 sector_size:4096
an offset that is not a multiple of the sector size|Offset is not a multiple|0 8 ebscrypt $D 2049 $K 1 sector_size:4096
a sector size below the device's logical block size|smaller than the device|0 8 ebscrypt $BIG4K 0 $K 1 sector_size:512
an optional-parameter count larger than the parameters|Invalid number of optional parameters|0 $LEN ebscrypt $D 2048 $K 2 allow_discards
an optional-parameter count smaller than the parameters|Too many arguments|0 $LEN ebscrypt $D 2048 $K 1 allow_discards sector_size:4096
a non-numeric optional-parameter count|Invalid number of optional parameters|0 $LEN ebscrypt $D 2048 $K x allow_discards
too many optional parameters|Invalid number of optional parameters|0 $LEN ebscrypt $D 2048 $K 4 allow_discards sector_size:4096 cipher_driver:xts(aes) allow_discards
LIST

good_table_still_accepted() {
	dmsetup create fine --table "0 $LEN ebscrypt $D 2048 $K 1 sector_size:4096"
	dmsetup remove fine
}
test_that "a well-formed table is accepted after all the refusals" good_table_still_accepted
dmsetup remove big4k
tap_done
