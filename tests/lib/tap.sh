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
	local name="$1" rc
	shift
	TAP_N=$((TAP_N + 1))
	( set -e; "$@" ) > "${TAP_TMP:-/tmp}/tap.$$.out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok $TAP_N - $name"
	else
		echo "not ok $TAP_N - $name"
		tap_diag < "${TAP_TMP:-/tmp}/tap.$$.out"
		echo "# exit status $rc"
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

# Run a command that must fail; print what it said.
must_fail() {
	if "$@" > "${TAP_TMP:-/tmp}/mf.$$" 2>&1; then
		echo "unexpectedly succeeded: $*"; cat "${TAP_TMP:-/tmp}/mf.$$"; rm -f "${TAP_TMP:-/tmp}/mf.$$"
		return 1
	fi
	rm -f "${TAP_TMP:-/tmp}/mf.$$"
	return 0
}
