#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt as a sysadmin installs it: the .debs `make deb` builds, on two
# real Debian 12 guests with systemd (tests/vm/sysguest) on a private test
# network, set up by following docs/real-host.md step by step: every shell
# block of the guide runs, as written, on the machine it names (kms: the
# key service over TLS; host: DKMS, the agent, a volume on a disk of its
# own). Then what the guide promises is checked: one version everywhere,
# the module built by DKMS, the packaged users and modes, the key service
# confined to its state directory, udev naming the volume, the volume
# attaching again after a reboot, and nothing of the keys left after purge.
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
	# (a rerun, or make check-host after make check); built afresh otherwise.
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
	{ testnet_create "$NS" && testnet_tap "$NS" tapk && testnet_tap "$NS" taph; } > "$work/net.log" 2>&1 ||
		{ cat "$work/net.log"; return 1; }
	# One after the other: two guests booting at once on two cores take
	# longer than twice one.
	"$S" start "$H" --packages "$REALHOST_PACKAGES" --netns "$NS" --net taph,ip=192.0.2.21/24 \
		--hostname host --disk 128M --timeout 3600
	"$S" start "$K" --packages "$REALHOST_PACKAGES" --netns "$NS" --net tapk,ip=192.0.2.20/24 \
		--hostname kms --cpus 1 --timeout 3600
	testnet_assert_isolated "$NS"
	echo "# guests up after $((SECONDS - start))s"
	local g
	for g in "$K" "$H"; do
		"$S" put "$g" "$work/deb/ebscrypt_${VERSION}_amd64.deb" "/root/ebscrypt_${VERSION}_amd64.deb"
		"$S" put "$g" "$work/deb/ebscrypt-dkms_${VERSION}_all.deb" "/root/ebscrypt-dkms_${VERSION}_all.deb"
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
	for d in /etc/ebscrypt /var/lib /run /run/ebscrypt /usr/sbin /root /; do
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

reboot_and_attach() {
	local vol
	vol=$(cat "$work/vol")
	"$S" reboot "$H"
	assert_eq "$(on "$H" 'systemctl is-active ebscrypt-agent')" active
	# udev named it at boot, before anyone asked.
	assert_eq "$(on "$H" "readlink -f /dev/disk/by-ebscrypt/$vol")" /dev/vdb
	on "$H" "ebscryptctl volume attach /dev/disk/by-ebscrypt/$vol --name data 2>/dev/null ||
		ebscryptctl volume attach $vol --name data"
	on "$H" 'mount /dev/mapper/data /srv/data && cat /srv/data/hello' > "$work/hello"
	assert_eq "$(cat "$work/hello")" "written through ebscrypt"
	on "$H" 'umount /srv/data && ebscryptctl volume detach data'
	assert_eq "$(on "$H" "dmsetup ls --target ebscrypt")" "No devices found"
}

purge_leaves_no_keys() {
	local g secrets
	# The secrets that existed: the principals' keys (on kms, and on the
	# host in its configs), the key store's root key.
	on "$K" 'sed -n "s/^aws_secret_access_key = //p" /var/lib/ebscrypt-kmsd/credentials' > "$work/secrets"
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
	refute on "$H" 'ls /var/lib/dkms/ebscrypt /usr/src/ebscrypt-* 2>/dev/null | grep .'
	refute on "$H" "find /lib/modules -name 'dm-ebscrypt.ko*' | grep ."
}

clean_shutdown() {
	"$S" stop "$H"
	"$S" stop "$K"
}

test_that "make deb builds both packages, lintian-clean, with Debian's build flags" debs_build
test_that "two Debian guests with systemd boot on a private test network" guests_boot
test_that "the real-host guide, followed step by step, sets up a KMS over TLS and a host with a volume" guide_runs
test_that "the packages, every program and the DKMS-built module report one version" one_version
test_that "DKMS built and installed the module for the running kernel" dkms_built_it
test_that "the config skeleton, the group, the key service's user and the units are as packaged" packaged_layout
test_that "the key service runs as its own user and can write only its state directory" kmsd_confined
test_that "udev names the volume's disk: ID_FS_TYPE=ebscrypt, its id and lineage, a by-ebscrypt link" udev_names_the_volume
test_that "after a reboot the volume attaches by its link and its data is there" reboot_and_attach
test_that "purging the packages leaves no key material behind" purge_leaves_no_keys
test_that "both guests power off cleanly" clean_shutdown
echo "# real-host.host.sh took $((SECONDS - start))s"
tap_done
