# SPDX-License-Identifier: GPL-2.0
#
# Minimal kselftest-style TAP helpers for shell tests. Source it, then:
#
#   tap_plan 3                      # optional
#   test_that "a write reads back" some_function arg...
#   tap_skip "cryptsetup cross-check" "cryptsetup missing"
#   tap_done                        # exits 1 if anything failed
#
# A test is a shell function (or command) run in a subshell with errexit, so
# the first failing command fails the test; its output goes to stdout as
# TAP diagnostics ("# ...").

TAP_N=0
TAP_FAILED=0

tap_plan() { echo "1..$1"; }

tap_diag() { sed 's/^/# /'; }

test_that() {
	local name="$1" rc t0=${EPOCHREALTIME/./} us
	shift
	TAP_N=$((TAP_N + 1))
	( set -e; "$@" ) > "${TAP_TMP:-/tmp}/tap.$$.out" 2>&1
	rc=$?
	# Where a suite's time goes, for keeping make check within its budget.
	us=$((${EPOCHREALTIME/./} - t0))
	if [ "$rc" -eq 0 ]; then
		echo "ok $TAP_N - $name"
		printf '#   took %d.%01ds\n' $((us / 1000000)) $((us / 100000 % 10))
	else
		echo "not ok $TAP_N - $name"
		tap_diag < "${TAP_TMP:-/tmp}/tap.$$.out"
		echo "# exit status $rc, after ${us}us"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
	rm -f "${TAP_TMP:-/tmp}/tap.$$.out"
	return 0
}

tap_skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1 # SKIP $2"
}

tap_done() {
	[ "$TAP_FAILED" -eq 0 ]
	exit $?
}

# Assertion helpers that explain themselves when they fail.
assert_eq() {
	[ "$1" = "$2" ] || { echo "expected '$2', got '$1'${3:+ ($3)}"; return 1; }
}

# refute [-m PATTERN] COMMAND [ARGS...]: the negative assertion. COMMAND
# must fail and, with -m, say something matching PATTERN (a grep basic
# regular expression) on stdout or stderr. What it said is passed on as
# diagnostics and kept in $REFUTE_OUTPUT for further checks. A command that
# cannot be run (status 126, 127) or dies of a signal does not count as
# failing: a typo or a crash is never the refusal a test looks for.
#
# Use it instead of `! COMMAND`: errexit ignores a negated command, so in a
# test body `! COMMAND` can never fail (scripts/lint-tests refuses it).
REFUTE_OUTPUT=
refute() {
	local pat="" has_pat=0 f rc
	if [ "${1:-}" = -m ]; then
		pat=$2 has_pat=1
		shift 2
	fi
	f=$(mktemp "${TAP_TMP:-${TMPDIR:-/tmp}}/refute.XXXXXX") || return 1
	if "$@" >"$f" 2>&1; then rc=0; else rc=$?; fi
	REFUTE_OUTPUT=$(cat "$f")
	if [ -n "$REFUTE_OUTPUT" ]; then printf '%s\n' "$REFUTE_OUTPUT"; fi
	if [ "$rc" -eq 0 ]; then
		echo "refute: unexpectedly succeeded: $*"
	elif [ "$rc" -eq 126 ] || [ "$rc" -eq 127 ]; then
		echo "refute: could not run (status $rc): $*"
	elif [ "$rc" -gt 128 ] && [ "$rc" -le 192 ]; then
		echo "refute: killed by signal $((rc - 128)): $*"
	elif [ "$has_pat" = 1 ] && ! grep -q -e "$pat" "$f"; then
		echo "refute: failed (status $rc) without saying '$pat': $*"
	else
		rm -f "$f"
		return 0
	fi
	rm -f "$f"
	return 1
}
