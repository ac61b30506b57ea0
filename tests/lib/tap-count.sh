# SPDX-License-Identifier: GPL-2.0
#
# Counting TAP across many producers. A producer that exits non-zero without
# reporting a failing test, or prints no test line at all, counts as one
# failure: a crash must never look like a pass.
TC_PASS=0
TC_FAIL=0
TC_SKIP=0
TC_TIMES=""

# Usage: tap_run NAME command [args...]
tap_run() {
	local name="$1" out rc pass fail skip t0
	shift
	out=$(mktemp)
	t0=$SECONDS
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# CI's budget is spent here: each producer's wall time, in the summary.
	TC_TIMES="$TC_TIMES $name=$((SECONDS - t0))s"
	skip=$(grep -cE '^ok .*# (SKIP|skip)' "$out")
	pass=$(( $(grep -c '^ok ' "$out") - skip ))
	fail=$(grep -c '^not ok ' "$out")
	rm -f "$out"
	TC_PASS=$((TC_PASS + pass))
	TC_SKIP=$((TC_SKIP + skip))
	TC_FAIL=$((TC_FAIL + fail))
	if [ $((pass + fail + skip)) -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; }; then
		echo "not ok - $name exited with status $rc"
		TC_FAIL=$((TC_FAIL + 1))
	fi
	return 0
}

tap_summary() {
	echo "# wall time:$TC_TIMES"
	echo "$TC_PASS passed, $TC_FAIL failed, $TC_SKIP skipped"
	# Nothing run is not a pass.
	[ "$TC_FAIL" -eq 0 ] && [ "$TC_PASS" -gt 0 ]
}
