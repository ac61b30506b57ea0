#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What ebscryptctl tells a script and the journal: a distinct exit status
# per kind of failure (lib/exitcode.h, ebscryptctl(8) EXIT STATUS), an
# unreadable state directory that is not passed off as an empty list, and
# sd-daemon priority prefixes exactly when stderr is the journal.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

CTL="${BUILD:-$top/build}/bin/ebscryptctl"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -m 0700 "$W/state" "$W/state/volumes"
: >"$W/ctl.conf"
chmod 600 "$W/ctl.conf"
export EBSCRYPT_CONFIG="$W/ctl.conf" EBSCRYPT_AGENT_SOCKET="$W/no-agent.sock" EBSCRYPT_STATE_DIR="$W/state"
export ASAN_OPTIONS="abort_on_error=1"

# status_is WANT PATTERN CMD...: CMD exits WANT and says PATTERN on stderr.
status_is() {
	local want=$1 pat=$2 rc=0
	shift 2
	"$@" >"$W/out" 2>"$W/err" || rc=$?
	cat "$W/err"
	assert_eq "$rc" "$want" "exit status of $*"
	grep -q -- "$pat" "$W/err"
}

t_statuses() {
	status_is 2 "unrecognized option" "$CTL" volume create --bogus
	status_is 2 "which volume" "$CTL" volume describe
	status_is 3 "no volume vol-0123456789abcdef0" "$CTL" volume describe vol-0123456789abcdef0
	status_is 8 "ebscrypt-agent is not running" "$CTL" volume detach vol-0123456789abcdef0
	printf 'kms_endpoint = http://127.0.0.1:1/\nkms_access_key_id = AKIAEXAMPLE000000000\nkms_secret_access_key = x\nkms_max_retries = 0\n' \
		>"$W/ctl.conf"
	status_is 5 "KMS unreachable" "$CTL" kms list-keys
	printf 'no_such_setting = 1\n' >"$W/ctl.conf"
	status_is 10 "$W/ctl.conf" "$CTL" volume list
	: >"$W/ctl.conf"
}

t_unreadable_state() {
	local who=()
	if [ "$(id -u)" = 0 ]; then
		command -v setpriv >/dev/null || { echo "setpriv missing"; return 1; }
		who=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		chmod 0755 "$W"
		# The caller's own config; only the state directory is root's.
		install -m 0600 -o 65534 -g 65534 /dev/null "$W/nobody.conf"
		export EBSCRYPT_CONFIG="$W/nobody.conf"
	fi
	# Root's 0700 state directory, read by someone else.
	status_is 7 "cannot read the volumes in $W/state/volumes: Permission denied" "${who[@]}" "$CTL" volume list
	assert_eq "$(cat "$W/out")" ""
}

# journal_stream FILE: the JOURNAL_STREAM systemd would set for stderr = FILE.
journal_stream() { stat -L -c '%d:%i' "$1"; }

t_priority_prefix() {
	: >"$W/journal"
	JOURNAL_STREAM=$(journal_stream "$W/journal") "$CTL" volume describe vol-0123456789abcdef0 \
		2>>"$W/journal" || :
	cat "$W/journal"
	grep -q '^<3>ebscryptctl: error: no volume' "$W/journal"
}

t_no_prefix_elsewhere() {
	: >"$W/journal"; : >"$W/other"
	# systemd's stream, but stderr is not it (redirected by a script): plain lines.
	JOURNAL_STREAM=$(journal_stream "$W/journal") "$CTL" volume describe vol-0123456789abcdef0 \
		2>>"$W/other" || :
	cat "$W/other"
	grep -q '^ebscryptctl: error: no volume' "$W/other"
}

test_that "each kind of failure has its own exit status, and the message says what failed" t_statuses
test_that "volume list on a state directory it cannot read fails with status 7 instead of listing nothing" \
	t_unreadable_state
test_that "under systemd an error line carries the sd-daemon prefix <3>, which journald turns into its priority" \
	t_priority_prefix
test_that "with stderr elsewhere than the journal, lines carry no prefix" t_no_prefix_elsewhere
tap_done
