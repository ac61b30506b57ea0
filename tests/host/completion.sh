#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Bash completion of the three programs, as bash-completion loads it: what a
# TAB offers after each word, from the programs' own command tables.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
BIN=${BUILD:-$top/build}/bin
TAP_TMP=$(mktemp -d)
trap 'rm -rf "$TAP_TMP"' EXIT
BC=/usr/share/bash-completion/bash_completion
if [ ! -r "$BC" ]; then
	echo "1..0 # SKIP bash-completion is not installed"
	exit 0
fi

# offers PROGRAM WORD...: the completions bash offers for the last WORD
# (empty: a TAB after a space), one a line, sorted.
offers() {
	local prog=$1
	shift
	PATH="$BIN:$PATH" bash --norc --noprofile -c '
		. "$1"; . "$2"; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		f=$(complete -p "$1" | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
		"$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"' \
		sh "$BC" "$top/completion/$prog" "$prog" "$@" | sed '/^$/d' | sort
}

t_groups() {
	assert_eq "$(offers ebscryptctl "" | tr '\n' ' ')" "agent config header kms snapshot volume "
	assert_eq "$(offers ebscryptctl vo)" volume
}

t_commands() {
	assert_eq "$(offers ebscryptctl volume "" | tr '\n' ' ')" \
		"attach authorize create delete describe detach list load-key modify revoke table "
	assert_eq "$(offers ebscryptctl --json snapshot c | tr '\n' ' ')" "copy create "
}

t_options() {
	assert_eq "$(offers ebscryptctl volume create --e | tr '\n' ' ')" "--encrypted "
	offers ebscryptctl volume create -- > "$TAP_TMP/o"
	for o in --size --snapshot-id --no-encryption --kms-key-id --device --sector-size --json --help; do
		grep -qx -- "$o" "$TAP_TMP/o" || { echo "missing $o"; cat "$TAP_TMP/o"; return 1; }
	done
	assert_eq "$(offers ebscryptctl --v)" --version
}

t_volume_ids() {
	local state=$TAP_TMP/state vol
	mkdir -p "$state"
	: > "$TAP_TMP/ctl.conf"; chmod 600 "$TAP_TMP/ctl.conf"
	vol=$(EBSCRYPT_CONFIG=$TAP_TMP/ctl.conf "$BIN/ebscryptctl" --state-dir "$state" --json \
		volume create --size 4M --no-encryption | jq -r .volume_id)
	[ -n "$vol" ]
	assert_eq "$(EBSCRYPT_CONFIG=$TAP_TMP/ctl.conf offers ebscryptctl --state-dir "$state" volume describe v)" "$vol"
	assert_eq "$(EBSCRYPT_CONFIG=$TAP_TMP/ctl.conf offers ebscryptctl --state-dir "$state" volume detach "")" "$vol"
}

t_kmsd() {
	assert_eq "$(offers ebscrypt-kmsd "" | tr '
' ' ')" "audit backup credentials init "
	assert_eq "$(offers ebscrypt-kmsd init -- | tr '
' ' ')" "--config --help --listen --state-dir "
	offers ebscrypt-kmsd --f | grep -qx -- --foreground
	offers ebscrypt-kmsd audit -- | grep -qx -- --since
	assert_eq "$(offers ebscrypt-kmsd backup -- | tr '\n' ' ')" "--config --help --state-dir "
	assert_eq "$(offers ebscrypt-kmsd credentials "")" "issue"
	offers ebscrypt-kmsd credentials issue -- | grep -qx -- --principal
}

t_agent() {
	assert_eq "$(offers ebscrypt-agent --c)" --config
	offers ebscrypt-agent -- | grep -qx -- --foreground
	offers ebscrypt-agent -- | grep -qx -- --version
}

test_that "ebscryptctl completes its command groups" t_groups
test_that "ebscryptctl completes the commands of a group" t_commands
test_that "ebscryptctl completes a command's own options and the global ones" t_options
test_that "ebscryptctl completes the ids of existing volumes where a command takes one" t_volume_ids
test_that "ebscrypt-kmsd completes its subcommands and each one's options" t_kmsd
test_that "ebscrypt-agent completes its options" t_agent
tap_done
