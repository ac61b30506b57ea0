#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscryptctl on its own, with no agent and no KMS: what it must refuse, and
# say why, before it touches anything.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

CTL="${BUILD:-$top/build}/bin/ebscryptctl"
TAP_TMP=$(mktemp -d)
trap 'rm -rf "$TAP_TMP"' EXIT
mkdir "$TAP_TMP/state"
: >"$TAP_TMP/ebscryptctl.conf"
chmod 600 "$TAP_TMP/ebscryptctl.conf"
export EBSCRYPT_CONFIG="$TAP_TMP/ebscryptctl.conf" EBSCRYPT_AGENT_SOCKET="$TAP_TMP/no-agent.sock"
# Sanitizer builds: ebscryptctl is dumpable, so leak checks may run.
export ASAN_OPTIONS="abort_on_error=1"

t_long_state_dir() {
	local dir="$TAP_TMP/state" out rc=0
	# 4060 bytes in components a filesystem takes: the paths under it would not fit PATH_MAX.
	while [ ${#dir} -lt 3850 ]; do dir="$dir/$(printf 'd%.0s' $(seq 1 200))"; done
	dir="$dir/$(printf 'd%.0s' $(seq 1 $((4059 - ${#dir}))))"
	mkdir -p "$dir"
	out=$("$CTL" --state-dir "$dir" volume create --size 16M --no-encryption 2>&1) || rc=$?
	echo "$out" | cut -c 1-200
	[ "$rc" -eq 1 ] || { echo "exit status $rc, not 1"; return 1; }
	echo "$out" | grep -q "the state directory .* is longer than [0-9]* bytes"
	# Refused before anything was made in it.
	[ -z "$(find "$dir" -mindepth 1)" ] || { find "$dir" -mindepth 1 | sed 's/d\{200\}/D/g'; return 1; }
}

test_that "a state directory too long for its paths is refused, saying so, and nothing is written" \
	t_long_state_dir
tap_done
