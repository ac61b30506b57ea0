# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the kernel selftests that run inside the test VM.
. /tests/lib/tap.sh

KEYDIR=/tmp/keys
mkdir -p "$KEYDIR"
chmod 700 "$KEYDIR"

# ebs_key NAME: a fresh random 64-byte DEK as logon key "ebscrypt:NAME" in
# the session keyring; the raw bytes stay in $KEYDIR/NAME for cryptsetup.
ebs_key() {
	head -c 64 /dev/urandom > "$KEYDIR/$1"
	keyctl padd logon "ebscrypt:$1" @s < "$KEYDIR/$1" > /dev/null
}

# ebs_sectors DEV OFFSET SECTOR_SIZE: largest length (512-byte sectors) that
# fits after OFFSET and is a whole number of crypto sectors.
ebs_sectors() {
	local total per
	total=$(blockdev --getsz "$1")
	per=$(($3 / 512))
	echo $(( (total - $2) / per * per ))
}

# ebs_create NAME DEV OFFSET KEYNAME SECTOR_SIZE [extra opts...]
ebs_create() {
	local name=$1 dev=$2 off=$3 key=$4 ss=$5 len
	shift 5
	len=$(ebs_sectors "$dev" "$off" "$ss")
	dmsetup create "$name" --table \
		"0 $len ebscrypt $dev $off :64:logon:ebscrypt:$key $(( $# + 1 )) sector_size:$ss $*"
}

# cs_open NAME DEV OFFSET KEYNAME SECTOR_SIZE: the same mapping through
# dm-crypt, the independent implementation used as a cross-check.
cs_open() {
	cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
		--key-file "$KEYDIR/$4" --offset "$3" --sector-size "$5" "$2" "$1"
}

# pattern FILE BYTES: recognisable plaintext, every 64-byte line numbered so
# no two blocks are alike. Cached: generating it under TCG is not free.
pattern() {
	local cache=/tmp/.pattern.$2
	[ -s "$cache" ] || awk -v n=$((($2 + 63) / 64)) 'BEGIN {
		for (i = 0; i < n; i++)
			printf "EBSCRYPT-PLAINTEXT-PATTERN block %020d ----------------\n", i
	}' | head -c "$2" > "$cache"
	cp "$cache" "$1"
}

sha() { sha256sum | cut -d' ' -f1; }

# An asynchronous xts(aes) driver for the cipher_driver option: cryptd in
# front of the generic C one (cryptd wraps only synchronous algorithms).
# Empty where the kernel has no cryptd (Debian's 7.x builds none: its x86
# ciphers no longer need it), and so no asynchronous xts(aes) at all.
async_cipher() {
	modprobe aes_generic 2>/dev/null || true
	modprobe cryptd 2>/dev/null || true
	# Built in (the debug kernel), cryptd has no /sys/module entry: its one
	# parameter is not visible there.
	if { [ -d /sys/module/cryptd ] || grep -qw cryptd_alloc_skcipher /proc/kallsyms; } &&
	   grep -qE '^driver +: aes-generic$' /proc/crypto; then
		echo "cryptd(xts(ecb(aes-generic)))"
	fi
}

cleanup_maps() {
	dmsetup remove_all > /dev/null 2>&1 || true
}

# Every xts(aes) implementation the kernel registered passed its self-tests
# (a guest booted with --crypto-selftests: the harness skips them otherwise).
xts_drivers_passed_selftests() {
	local n
	refute grep -q cryptomgr.notests /proc/cmdline
	modprobe aesni_intel
	modprobe xts
	# Every xts(aes) implementation registered, by name and verdict.
	awk '/^name/ {n = $3} /^driver/ {d = $3} /^selftest/ && n == "xts(aes)" {print d, $3}' /proc/crypto |
		tee /tmp/xts-selftests
	n=$(grep -c . /tmp/xts-selftests)
	[ "$n" -ge 1 ]
	refute grep -v ' passed$' /tmp/xts-selftests
}

# Under emulation, RCU stalls are not reported while the kernel boots (a
# starved host thread, not anything of ours, which loads after boot), and
# are reported again after it.
boot_stalls_suppressed_under_emulation() {
	local p=/sys/module/rcupdate/parameters
	if ! grep -q 'QEMU TCG' /proc/cpuinfo; then
		echo "# not emulated: boot stalls are reported"
		return 0
	fi
	assert_eq "$(cat $p/rcu_cpu_stall_suppress_at_boot)" 1 "suppressed at boot"
	assert_eq "$(cat $p/rcu_cpu_stall_suppress)" 0 "reported after boot"
}

# cgroup_child NAME CONTROLLERS: the cgroup v2 hierarchy mounted, the
# CONTROLLERS ("+io", "+memory +io") enabled for its children, and the
# child NAME created.
cgroup_child() {
	local cg=/sys/fs/cgroup
	mkdir -p "$cg"
	grep -q " $cg cgroup2 " /proc/mounts || mount -t cgroup2 none "$cg"
	echo "$2" > "$cg/cgroup.subtree_control"
	mkdir -p "$cg/$1"
}
