#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-generator on its own: what it writes for each ebscrypttab line
# and option, and the bad lines it reports and leaves out while still
# writing the good ones. (The units themselves boot in
# tests/system/real-host.host.sh, in real systemd guests.)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

GEN="${BUILD:-$top/build}/bin/ebscrypt-generator"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export ASAN_OPTIONS="abort_on_error=1"
VOL=vol-0123456789abcdef0

# gen TABTEXT: runs the generator on a table holding TABTEXT into $W/out; its status.
gen() {
	rm -rf "$W/out"; mkdir "$W/out"
	printf '%s\n' "$1" > "$W/tab"
	SYSTEMD_EBSCRYPTTAB=$W/tab "$GEN" "$W/out" "$W/out" "$W/out" 2> "$W/err"
}

t_plain_line() {
	gen "# a comment
data $VOL"
	local d=$W/out/ebscrypt-attach@data.service.d/50-ebscrypttab.conf
	grep -qx "Environment=\"EBSCRYPT_VOLUME=$VOL\" \"EBSCRYPT_ATTACH_OPTIONS=--retry-for 0\"" "$d"
	grep -qx "Before=remote-fs.target" "$d"
	grep -qx "TimeoutStartSec=infinity" "$d"
	refute grep -q "network-online" "$d"
	assert_eq "$(readlink "$W/out/remote-fs.target.requires/ebscrypt-attach@data.service")" \
		/lib/systemd/system/ebscrypt-attach@.service
	grep -qx "Requires=ebscrypt-attach@data.service" "$W/out/dev-mapper-data.device.d/50-ebscrypt.conf"
	# Not ordered after it: at shutdown the device's stop job would then
	# wait for the mapping that only the unit's stop, queued behind, removes.
	refute grep -q "^After=" "$W/out/dev-mapper-data.device.d/50-ebscrypt.conf"
	grep -qx "JobRunningTimeoutSec=infinity" "$W/out/dev-mapper-data.device.d/50-ebscrypt.conf"
}

t_options() {
	gen "my-data /dev/disk/by-ebscrypt/$VOL _netdev,nofail,ro,timeout=2min
later $VOL noauto"
	local d=$W/out/ebscrypt-attach@my\\x2ddata.service.d/50-ebscrypttab.conf
	cat "$d"
	grep -qx "After=network-online.target" "$d"
	grep -qx "Wants=network-online.target" "$d"
	refute grep -q "Before=remote-fs.target" "$d"
	# The device, as systemd-escape --path names it.
	grep -qx "BindsTo=dev-disk-by\\\\x2debscrypt-$(echo "$VOL" | sed 's/-/\\\\x2d/').device" "$d"
	grep -q "EBSCRYPT_ATTACH_OPTIONS=--retry-for 120 --read-only" "$d"
	grep -qx "TimeoutStartSec=180s" "$d"
	[ -L "$W/out/remote-fs.target.wants/ebscrypt-attach@my\\x2ddata.service" ]
	[ -f "$W/out/dev-mapper-my\\x2ddata.device.d/50-ebscrypt.conf" ]
	# noauto: units, but nothing pulls it in.
	[ -f "$W/out/ebscrypt-attach@later.service.d/50-ebscrypttab.conf" ]
	refute ls "$W/out/remote-fs.target.wants/ebscrypt-attach@later.service" "$W/out/remote-fs.target.requires/ebscrypt-attach@later.service"
	if command -v systemd-escape > /dev/null; then
		assert_eq "ebscrypt-attach@$(systemd-escape my-data).service" "ebscrypt-attach@my\\x2ddata.service"
	fi
}

t_bad_lines() {
	local bad rc
	while IFS= read -r bad; do
		rc=0
		gen "$bad
good $VOL" || rc=$?
		assert_eq "$rc" 1 "status for: $bad" || return 1
		grep -q '^<3>ebscrypt-generator: .*:[12]: ' "$W/err" || { echo "no complaint for: $bad"; cat "$W/err"; return 1; }
		[ -f "$W/out/ebscrypt-attach@good.service.d/50-ebscrypttab.conf" ] ||
			{ echo "the good line was lost after: $bad"; return 1; }
		[ "$(find "$W/out" -name '50-ebscrypttab.conf' | wc -l)" = 1 ] || { echo "bad line made units: $bad"; return 1; }
	done <<-EOF
	onlyname
	data vol-123
	data vol-0123456789ABCDEF0
	data relative/dev
	data $VOL _netdev,bogus
	data $VOL timeout=-1
	data $VOL timeout=ten
	data $VOL nofail extra
	bad/name $VOL
	.. $VOL
	$(printf 'n%.0s' $(seq 1 101)) $VOL
	good $VOL
	EOF
}

t_no_table() {
	rm -rf "$W/out"; mkdir "$W/out"
	SYSTEMD_EBSCRYPTTAB=$W/none "$GEN" "$W/out" "$W/out" "$W/out"
	assert_eq "$(find "$W/out" -mindepth 1 | wc -l)" 0
}

# The boot transaction systemd would build from the units, the generator's
# output and what systemd-fstab-generator makes of the documented fstab lines:
# no ordering cycle (a mount on an ebscrypt volume cannot be a local one).
t_no_ordering_cycle() {
	local opts fst
	command -v systemd-analyze > /dev/null || { echo "systemd-analyze missing"; return 1; }
	make -s -C "$top" units BUILD="$W/build" > /dev/null
	# The last: a local mount, which the docs say cannot work; the check must see its cycle.
	for opts in "_netdev|_netdev,x-systemd.requires=ebscrypt-attach@data.service" "_netdev,nofail|_netdev,nofail" \
		"_netdev|defaults"; do
		rm -rf "$W/sa"; mkdir -p "$W/sa/fstab.d" "$W/sa/units/multi-user.target.wants"
		cp "$W/build/systemd/"* "$W/sa/units/"
		ln -s "$W/sa/units/ebscrypt-agent.service" "$W/sa/units/multi-user.target.wants/"
		gen "data $VOL ${opts%%|*}"
		# The template where the links point is this test's copy.
		for l in "$W/out"/remote-fs.target.*/*; do ln -sf "$W/sa/units/ebscrypt-attach@.service" "$l"; done
		fst=$W/sa/fstab
		echo "/dev/mapper/data /srv/data ext4 ${opts#*|} 0 2" > "$fst"
		SYSTEMD_FSTAB=$fst /lib/systemd/system-generators/systemd-fstab-generator \
			"$W/sa/fstab.d" "$W/sa/fstab.d" "$W/sa/fstab.d"
		SYSTEMD_UNIT_PATH=$W/sa/fstab.d:$W/out:$W/sa/units: timeout 120 \
			systemd-analyze verify multi-user.target srv-data.mount > "$W/verify" 2>&1
		if [ "${opts#*|}" = defaults ]; then
			grep -qi "ordering cycle" "$W/verify" || { echo "no cycle found for a local mount"; return 1; }
		elif grep -i "cycle" "$W/verify"; then
			echo "with ${opts%%|*}"; return 1
		fi
	done
}

test_that "a plain line gives the unit its volume, orders it before remote-fs.target and makes the mapper device require it, unordered" t_plain_line
test_that "_netdev, nofail, ro, timeout= and noauto each change the units as documented" t_options
test_that "every bad line is reported and left out, and the good lines still get their units" t_bad_lines
test_that "no ebscrypttab means no units and success" t_no_table
test_that "the units and a documented fstab line form a boot transaction without ordering cycles" t_no_ordering_cycle
tap_done
