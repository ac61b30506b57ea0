# SPDX-License-Identifier: GPL-2.0
#
# A shared cache of downloaded .debs for the mmdebstrap runs of the harness
# (tests/vm/sysguest, tests/fresh-machine): $APT_CACHE, by default
# ${EBSCRYPT_CACHE:-/var/cache/ebscrypt}/apt-archives. Only complete *.deb
# files move in or out (apt downloads into partial/ and renames), so a run
# can read it while another apt, e.g. a fresh-machine chroot that has it
# bind-mounted, writes to it; a failure to copy only costs a download.

APT_CACHE=${APT_CACHE:-${EBSCRYPT_CACHE:-/var/cache/ebscrypt}/apt-archives}

# mmdebstrap --setup-hook: the cached .debs into the new root's archive dir.
apt_cache_in_hook() {
	printf '%s' "mkdir -p \"\$1/var/cache/apt/archives\" && for f in $APT_CACHE/*.deb; do [ -e \"\$f\" ] || continue; ln \"\$f\" \"\$1/var/cache/apt/archives/\" 2>/dev/null || cp \"\$f\" \"\$1/var/cache/apt/archives/\" || true; done"
}

# mmdebstrap --customize-hook: what it downloaded back into the cache, each
# file written under a temporary name and renamed.
apt_cache_out_hook() {
	printf '%s' "mkdir -p $APT_CACHE && for f in \"\$1\"/var/cache/apt/archives/*.deb; do [ -e \"\$f\" ] || continue; n=\${f##*/}; [ -e \"$APT_CACHE/\$n\" ] && continue; cp \"\$f\" \"$APT_CACHE/.\$n.\$\$\" && mv \"$APT_CACHE/.\$n.\$\$\" \"$APT_CACHE/\$n\" || rm -f \"$APT_CACHE/.\$n.\$\$\"; done; true"
}
