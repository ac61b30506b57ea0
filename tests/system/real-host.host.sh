#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt on a real Debian 12 host, as a sysadmin installs and runs it: the
# .debs `make deb` builds, on two Debian 12 guests with systemd
# (tests/vm/sysguest) on a private test network, set up by following
# docs/real-host.md step by step: every shell block of the guide runs, as
# written, on the machine it names (kms: the key service over TLS; host:
# DKMS, the agent, a volume on a disk of its own). Then, on those guests:
#   - what the guide promises: one version everywhere, the module built by
#     DKMS, the packaged users and modes, the key service confined to its
#     state directory, udev naming the volume;
#   - boot integration: the volume in ebscrypttab and fstab is mounted after
#     boot; with the KMS down at boot, nofail lets the boot finish, the unit
#     retries and the mount appears once the KMS is back;
#   - a kernel upgrade to 6.12 from bookworm-backports with apt: DKMS builds
#     the module for it, and after a reboot into it (whose shutdown must
#     have unmounted, then detached) the volume is mounted again;
#   - stopping the unit detaches and leaves no key; purging the packages
#     leaves no key material anywhere.
# In `make check` (the systemd lane), and alone as `make check-system`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/realhost.sh"
. "$top/tests/vm/netns.sh"
S=$top/tests/vm/sysguest
work=$(mktemp -d)
TAP_TMP=$work
K=$work/kms H=$work/host NS=ebsrh-$$
trap '"$S" kill "$K" 2>/dev/null; "$S" kill "$H" 2>/dev/null; testnet_destroy "$NS" 2>/dev/null; rm -rf "$work"' EXIT
start=$SECONDS
VERSION=$(awk 'NR == 1 { gsub(/[()]/, "", $2); print $2; exit }' "$top/debian/changelog")
on() { local g=$1; shift; "$S" exec "$g" --timeout 900 "$@"; }

debs_build() {
	# REALHOST_DEBS=DIR: the packages scripts/build-deb already made there
	# (make deb, then a rerun); built afresh otherwise.
	if [ -n "${REALHOST_DEBS:-}" ]; then
		mkdir -p "$work/deb"
		cp "$REALHOST_DEBS"/*.deb "$REALHOST_DEBS"/build.log "$REALHOST_DEBS"/lintian.log "$work/deb/"
	else
		"$top/scripts/build-deb" "$work/deb" > "$work/build-deb.out" 2>&1 || { cat "$work/build-deb.out"; return 1; }
		echo "# make deb took $((SECONDS - start))s"
	fi
	ls "$work/deb/ebscrypt_${VERSION}_amd64.deb" "$work/deb/ebscrypt-dkms_${VERSION}_all.deb"
	# Debian's own flags reached every compile, with their fortify level
	# only (the Makefile adds none of its own when given one).
	local level
	level=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS | grep -o '_FORTIFY_SOURCE=[0-9]')
	assert_eq "$(grep ' -c -o ' "$work/deb/build.log" | grep -o '_FORTIFY_SOURCE=[0-9]' | sort -u)" "$level"
	refute grep -q -- '-Werror ' "$work/deb/build.log"
	refute grep -q '^E:' "$work/deb/lintian.log"
}

guests_boot() {
	local packages
	packages=$(realhost_packages "$work"/deb/*.deb)
	{ testnet_create "$NS" && testnet_tap "$NS" tapk && testnet_tap "$NS" taph; } > "$work/net.log" 2>&1 ||
		{ cat "$work/net.log"; return 1; }
	# One after the other: two guests booting at once on two cores take
	# longer than twice one.
	"$S" start "$H" --packages "$packages" --netns "$NS" --net taph,ip=192.0.2.21/24 \
		--hostname host --disk 128M --timeout 3600
	"$S" start "$K" --packages "$packages" --netns "$NS" --net tapk,ip=192.0.2.20/24 \
		--hostname kms --cpus 1 --timeout 3600
	testnet_assert_isolated "$NS"
	echo "# guests up after $((SECONDS - start))s"
	local g
	for g in "$K" "$H"; do
		"$S" put "$g" "$work/deb/ebscrypt_${VERSION}_amd64.deb" "/root/ebscrypt_${VERSION}_amd64.deb"
		"$S" put "$g" "$work/deb/ebscrypt-dkms_${VERSION}_all.deb" "/root/ebscrypt-dkms_${VERSION}_all.deb"
	done
}

# An emulated CPU with 5-level paging can hang a kernel early in its boot
# (tests/vm/lib.sh, vm_accel_args): the systemd guests must not have it.
no_5level_paging_under_emulation() {
	local accel g
	accel=${EBSCRYPT_VM_ACCEL:-$("$top/tests/vm/probe-accel")}
	[ "$accel" = tcg ] || { echo "# under KVM: the host's own CPU"; return 0; }
	for g in "$K" "$H"; do
		refute on "$g" 'grep -qw la57 /proc/cpuinfo'
	done
}

guide_runs() {
	local step machine from to t0
	realhost_steps "$top/docs/real-host.md" "$work/steps"
	# The guide has steps on both machines and copies the enrolment over.
	ls "$work/steps"/*.kms.sh "$work/steps"/*.host.sh "$work/steps"/*.copy > /dev/null
	for step in "$work/steps"/*; do
		t0=$SECONDS
		case $step in
		*.copy)
			read -r from to < "$step"
			"$S" get "$(guest "${from%%:*}")" "${from#*:}" "$work/copied"
			"$S" put "$(guest "${to%%:*}")" "$work/copied" "${to#*:}"
			on "$(guest "${from%%:*}")" "rm ${from#*:}"
			;;
		*.sh)
			machine=${step%.sh}; machine=${machine##*.}
			on "$(guest "$machine")" "$(cat "$step")" > "$work/step.out" 2>&1 ||
				{ echo "step ${step##*/} failed:"; sed 's/^/  /' "$step"; cat "$work/step.out"; return 1; }
			;;
		esac
		echo "# ${step##*/}: $((SECONDS - t0))s"
	done
}
guest() { case $1 in kms) echo "$K" ;; host) echo "$H" ;; *) echo "no machine $1" >&2; return 1 ;; esac; }

one_version() {
	local g
	for g in "$K" "$H"; do
		assert_eq "$(on "$g" "dpkg-query -W -f '\${Version}' ebscrypt")" "$VERSION"
		assert_eq "$(on "$g" 'for p in ebscrypt-kmsd ebscrypt-agent ebscryptctl; do $p --version; done; /lib/udev/ebscrypt-probe --version')" \
"ebscrypt-kmsd $VERSION
ebscrypt-agent $VERSION
ebscryptctl $VERSION
ebscrypt-probe $VERSION"
	done
	assert_eq "$(on "$H" "dpkg-query -W -f '\${Version}' ebscrypt-dkms")" "$VERSION"
	assert_eq "$(on "$H" 'cat /sys/module/dm_ebscrypt/version')" "$VERSION"
}

dkms_built_it() {
	on "$H" 'dkms status ebscrypt' | tee "$work/dkms"
	grep -q "^ebscrypt/$VERSION, $VM_KVER, x86_64: installed" "$work/dkms"
	# The module the kernel loaded is DKMS's, not one from the harness.
	assert_eq "$(on "$H" "modinfo -k $VM_KVER -n dm-ebscrypt")" "/lib/modules/$VM_KVER/updates/dkms/dm-ebscrypt.ko"
	on "$H" 'grep -q "^dm_ebscrypt " /proc/modules'
}

packaged_layout() {
	assert_eq "$(on "$H" 'stat -c "%a %U %G %n" /etc/ebscrypt /etc/ebscrypt/agent.conf /etc/ebscrypt/ebscryptctl.conf')" \
"755 root root /etc/ebscrypt
600 root root /etc/ebscrypt/agent.conf
600 root root /etc/ebscrypt/ebscryptctl.conf"
	on "$H" 'getent group ebscrypt'
	assert_eq "$(on "$K" 'getent passwd ebscrypt-kmsd | cut -d: -f6,7')" "/var/lib/ebscrypt-kmsd:/usr/sbin/nologin"
	assert_eq "$(on "$K" 'stat -c "%a %U" /var/lib/ebscrypt-kmsd')" "700 ebscrypt-kmsd"
	# What init wrote as root: the daemon's files its user's, the
	# operator's credentials root's.
	assert_eq "$(on "$K" 'cd /etc/ebscrypt && stat -c "%a %U %n" kmsd.conf admin.secret host.secret tls.key credentials')" \
"600 ebscrypt-kmsd kmsd.conf
600 ebscrypt-kmsd admin.secret
600 ebscrypt-kmsd host.secret
600 ebscrypt-kmsd tls.key
600 root credentials"
	# The agent's socket is the group's, as agent.conf says.
	assert_eq "$(on "$H" 'stat -c "%a %U %G" /run/ebscrypt/agent.sock')" "660 root ebscrypt"
	# Completion and the udev rule are where bash-completion and udev look.
	on "$H" 'test -s /usr/share/bash-completion/completions/ebscryptctl && test -s /lib/udev/rules.d/61-ebscrypt.rules'
	# Installed, not enabled: only the guide's steps enabled them.
	assert_eq "$(on "$H" 'systemctl is-enabled ebscrypt-kmsd ebscrypt-agent' | tr '\n' ' ')" "disabled enabled "
}

kmsd_confined() {
	local pid
	pid=$(on "$K" 'systemctl show -P MainPID ebscrypt-kmsd')
	[ "$pid" -gt 0 ]
	assert_eq "$(on "$K" "ps -o user= -p $pid")" ebscrypt-kmsd
	# In the service's own mount namespace, as its user: its state
	# directory is writable, nothing else of the system is.
	on "$K" "nsenter -t $pid -m -S \$(id -u ebscrypt-kmsd) -G \$(id -g ebscrypt-kmsd) -- sh -c 'touch /var/lib/ebscrypt-kmsd/.w && rm /var/lib/ebscrypt-kmsd/.w'"
	# Its runtime directory, for a Unix socket, is its own too.
	on "$K" "nsenter -t $pid -m -S \$(id -u ebscrypt-kmsd) -G \$(id -g ebscrypt-kmsd) -- sh -c 'touch /run/ebscrypt-kmsd/.w && rm /run/ebscrypt-kmsd/.w'"
	local d
	for d in /etc/ebscrypt /var/lib /run /run/lock /usr/sbin /root /; do
		refute on "$K" "nsenter -t $pid -m -S \$(id -u ebscrypt-kmsd) -G \$(id -g ebscrypt-kmsd) -- touch $d/.w"
		# Not even root could write there, in that view of the system.
		[ "$d" = /root ] || on "$K" "nsenter -t $pid -m -- findmnt -no OPTIONS --target $d" | grep -q '^ro'
	done
}

udev_names_the_volume() {
	local vol lineage
	on "$H" 'ebscryptctl --json volume list' > "$work/vols"
	vol=$(jq -r '.volumes[0].volume_id' "$work/vols")
	lineage=$(jq -r '.volumes[0].data_encryption_key_id' "$work/vols")
	grep -qx 'vol-[0-9a-f]\{17\}' <<<"$vol"
	on "$H" 'udevadm info --query=property --name=/dev/vdb' > "$work/props"
	grep -qx 'ID_FS_TYPE=ebscrypt' "$work/props"
	grep -qx "ID_EBSCRYPT_VOLUME_ID=$vol" "$work/props"
	grep -qx "ID_EBSCRYPT_LINEAGE=$lineage" "$work/props"
	grep -qx 'ID_EBSCRYPT_ENCRYPTED=1' "$work/props"
	assert_eq "$(on "$H" "readlink -f /dev/disk/by-ebscrypt/$vol")" /dev/vdb
	# The plaintext mapping has no header of its own: no second link.
	assert_eq "$(on "$H" 'ls /dev/disk/by-ebscrypt/')" "$vol"
	echo "$vol" > "$work/vol"
}

# mounted_within S: /srv/data is mounted from /dev/mapper/data on the host within S seconds.
mounted_within() {
	on "$H" "for i in \$(seq 1 $(($1 * 2))); do
		findmnt -n -o SOURCE /srv/data | grep -qx /dev/mapper/data && exit 0; sleep 0.5; done
		findmnt /srv/data; systemctl status --no-pager ebscrypt-attach@data.service; exit 1"
}

listed_in_ebscrypttab() {
	local vol
	vol=$(cat "$work/vol")
	# The guide left it attached and mounted by hand; from here the units
	# the generator writes take it.
	on "$H" "umount /srv/data && ebscryptctl volume detach data
		printf 'data %s _netdev\n' $vol > /etc/ebscrypt/ebscrypttab
		echo '/dev/mapper/data /srv/data ext4 _netdev,x-systemd.requires=ebscrypt-attach@data.service 0 2' >> /etc/fstab
		systemctl daemon-reload"
	on "$H" 'systemctl cat ebscrypt-attach@data.service' | grep -q "EBSCRYPT_VOLUME=$vol"
}

mounted_after_boot() {
	local vol
	vol=$(cat "$work/vol")
	"$S" reboot "$H"
	mounted_within 10
	assert_eq "$(on "$H" 'systemctl is-active ebscrypt-attach@data.service')" active
	assert_eq "$(on "$H" 'dmsetup table data | cut -d" " -f3')" ebscrypt
	assert_eq "$(on "$H" 'cat /srv/data/hello')" "written through ebscrypt"
	# udev named the disk at boot, before anyone asked.
	assert_eq "$(on "$H" "readlink -f /dev/disk/by-ebscrypt/$vol")" /dev/vdb
	on "$H" 'head -c 1048576 /dev/urandom > /srv/data/blob && sha256sum /srv/data/blob | cut -c1-64 > /root/blob.sum && sync'
}

same_blob() {
	assert_eq "$(on "$H" 'sha256sum /srv/data/blob | cut -c1-64')" "$(on "$H" 'cat /root/blob.sum')"
}

# The shutdown of the boot before: the volume unmounted first, then
# detached, and nothing busy.
previous_shutdown_unmounted_then_detached() {
	on "$H" 'journalctl -b -1 -o cat --no-pager -u ebscrypt-attach@data.service -u srv-data.mount' > "$work/down"
	cat "$work/down"
	grep -q "^detached " "$work/down"
	refute grep -qi "busy" "$work/down"
	local um det
	um=$(grep -n "Unmounted srv-data.mount\|Unmounted /srv/data" "$work/down" | tail -n 1 | cut -d: -f1)
	det=$(grep -n "^detached " "$work/down" | tail -n 1 | cut -d: -f1)
	[ -n "$um" ] && [ "$um" -lt "$det" ] || { echo "unmount (line $um) not before detach (line $det)"; return 1; }
}

kms_down_at_boot() {
	on "$H" "sed -i 's/_netdev\$/_netdev,nofail/' /etc/ebscrypt/ebscrypttab
		sed -i 's|ext4 _netdev,|ext4 _netdev,nofail,|' /etc/fstab"
	on "$K" 'systemctl stop ebscrypt-kmsd'
	# reboot returns at multi-user: the boot finished with the volume not attached.
	"$S" reboot "$H"
	assert_eq "$(on "$H" 'systemctl is-active multi-user.target')" active
	refute on "$H" 'findmnt /srv/data'
	assert_eq "$(on "$H" 'systemctl is-active ebscrypt-attach@data.service')" activating
	on "$H" 'sleep 4; journalctl -b -o cat --no-pager -u ebscrypt-attach@data.service' > "$work/retry"
	cat "$work/retry"
	grep -q "KMS at .* unreachable.*retrying in" "$work/retry"
	on "$K" 'systemctl start ebscrypt-kmsd'
	mounted_within 60
	assert_eq "$(on "$H" 'systemctl is-active ebscrypt-attach@data.service')" active
	same_blob
}

dkms_builds_for_the_new_kernel() {
	local f t0=$SECONDS kver_new
	"$top/scripts/kernels" fetch 6.12 > "$work/kernels.out" 2>&1 || { cat "$work/kernels.out"; return 1; }
	kver_new=$(eval "$("$top/scripts/kernels" env 6.12)"; echo "$K_KVER")
	[ -n "$kver_new" ]
	echo "$kver_new" > "$work/kver"
	for f in $("$top/scripts/kernels" debs 6.12); do "$S" put "$H" "$f" "/root/kernel/${f##*/}"; done
	on "$H" 'apt-get install -y --no-install-recommends /root/kernel/*.deb && rm -r /root/kernel' > "$work/kernel.out" 2>&1 ||
		{ tail -n 60 "$work/kernel.out"; return 1; }
	echo "# the kernel installed (initramfs, DKMS) in $((SECONDS - t0))s"
	on "$H" 'dkms status ebscrypt' | tee "$work/dkms"
	grep -q "^ebscrypt/$VERSION, $kver_new, x86_64: installed" "$work/dkms"
	grep -q "^ebscrypt/$VERSION, $VM_KVER, x86_64: installed" "$work/dkms"
	assert_eq "$(on "$H" "modinfo -k $kver_new -F version dm-ebscrypt")" "$VERSION"
	on "$H" "test -s /boot/initrd.img-$kver_new"
}

mounted_after_reboot_into_it() {
	local kver_new
	kver_new=$(cat "$work/kver")
	"$S" reboot "$H" --kernel "guest:$kver_new"
	assert_eq "$(on "$H" 'uname -r')" "$kver_new"
	mounted_within 60
	same_blob
	assert_eq "$(on "$H" 'cat /sys/module/dm_ebscrypt/version')" "$VERSION"
	previous_shutdown_unmounted_then_detached
}

stop_detaches_and_wipes() {
	on "$H" 'systemctl stop ebscrypt-attach@data.service'
	refute on "$H" 'findmnt /srv/data'
	refute on "$H" 'dmsetup info data'
	refute on "$H" 'dmsetup info data-base'
	assert_eq "$(on "$H" "dmsetup ls --target ebscrypt")" "No devices found"
	# No volume key anywhere the kernel lists keys.
	refute on "$H" 'grep -q ebscrypt /proc/keys'
}

purge_leaves_no_keys() {
	local g
	# The secrets that existed: the principals' keys (on kms, and on the
	# host in its configs).
	on "$K" 'sed -n "s/^aws_secret_access_key = //p" /etc/ebscrypt/credentials' > "$work/secrets"
	[ "$(wc -l < "$work/secrets")" -eq 2 ]
	on "$H" 'apt-get purge -y ebscrypt ebscrypt-dkms' > "$work/purge.host" 2>&1 || { cat "$work/purge.host"; return 1; }
	on "$K" 'systemctl stop ebscrypt-kmsd; apt-get purge -y ebscrypt' > "$work/purge.kms" 2>&1 || { cat "$work/purge.kms"; return 1; }
	for g in "$K" "$H"; do
		refute on "$g" 'ls -d /etc/ebscrypt /var/lib/ebscrypt /var/lib/ebscrypt-kmsd /run/ebscrypt 2>/dev/null | grep .'
		# Nowhere on the disk: configs, state, logs and the journal, home
		# directories, temporary files.
		"$S" put "$g" "$work/secrets" /root/secrets
		refute on "$g" 'grep -rlaF -f /root/secrets /etc /var /root /run /srv /tmp /home /opt /usr/local 2>/dev/null | grep -v "^/root/secrets$"'
	done
	# The module is gone for both kernels, and DKMS holds nothing of it.
	refute on "$H" 'ls /var/lib/dkms/ebscrypt /usr/src/ebscrypt-* 2>/dev/null | grep .'
	refute on "$H" "find /lib/modules -name 'dm-ebscrypt.ko*' | grep ."
}

clean_shutdown() {
	"$S" stop "$H"
	"$S" stop "$K"
}

test_that "make deb builds both packages, lintian-clean, with Debian's build flags" debs_build
test_that "two Debian guests with systemd boot on a private test network" guests_boot
test_that "emulated, the guests' CPU offers no 5-level paging" no_5level_paging_under_emulation
test_that "the real-host guide, followed step by step, sets up a KMS over TLS and a host with a volume" guide_runs
test_that "the packages, every program and the DKMS-built module report one version" one_version
test_that "DKMS built and installed the module for the running kernel" dkms_built_it
test_that "the config skeleton, the group, the key service's user and the units are as packaged" packaged_layout
test_that "the key service runs as its own user and can write only its state directory" kmsd_confined
test_that "udev names the volume's disk: ID_FS_TYPE=ebscrypt, its id and lineage, a by-ebscrypt link" udev_names_the_volume
test_that "a volume listed in ebscrypttab and fstab gets its unit from the generator" listed_in_ebscrypttab
test_that "the volume is attached and mounted after boot, its data there" mounted_after_boot
test_that "with the KMS down at boot, nofail lets the boot finish, the unit retries, and the mount appears once the KMS is back" \
	kms_down_at_boot
test_that "installing the 6.12 kernel and headers with apt makes DKMS build the module for it" dkms_builds_for_the_new_kernel
test_that "after a reboot into 6.12, whose shutdown unmounted and then detached the volume cleanly, it is mounted at boot and its data is intact" \
	mounted_after_reboot_into_it
test_that "stopping the unit unmounts, detaches and leaves no key" stop_detaches_and_wipes
test_that "purging the packages leaves no key material behind" purge_leaves_no_keys
test_that "both guests power off cleanly" clean_shutdown
echo "# real-host.host.sh took $((SECONDS - start))s"
tap_done
