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
	local name="$1" out rc t0
	shift
	out=$(mktemp)
	t0=$SECONDS
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	tap_count "$name" "$out" "$rc" $((SECONDS - t0))
	rm -f "$out"
	return 0
}

# Usage: tap_count NAME OUTPUT_FILE STATUS SECONDS: adds a producer's
# results to the totals.
tap_count() {
	local name=$1 out=$2 rc=$3 secs=$4 pass fail skip
	# CI's budget is spent here: each producer's wall time, in the summary.
	TC_TIMES="$TC_TIMES $name=${secs}s"
	skip=$(grep -cE '^ok .*# (SKIP|skip)' "$out")
	pass=$(( $(grep -c '^ok ' "$out") - skip ))
	fail=$(grep -c '^not ok ' "$out")
	TC_PASS=$((TC_PASS + pass))
	TC_SKIP=$((TC_SKIP + skip))
	TC_FAIL=$((TC_FAIL + fail))
	if [ $((pass + fail + skip)) -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; }; then
		echo "not ok - $name exited with status $rc"
		TC_FAIL=$((TC_FAIL + 1))
	fi
}

tap_summary() {
	echo "# wall time:$TC_TIMES"
	echo "$TC_PASS passed, $TC_FAIL failed, $TC_SKIP skipped"
	# Nothing run is not a pass.
	[ "$TC_FAIL" -eq 0 ] && [ "$TC_PASS" -gt 0 ]
}

# Producers run side by side, for a machine's cores: tap_lane starts one in
# the background with its output kept aside; tap_lanes_wait waits for all of
# them, then counts and prints each one's output whole, in the order they
# were started, so that the stream reads as if they had run one by one.
TL_NAMES=()
TL_FILES=()
TL_PIDS=()

# Usage: tap_lane NAME command [args...]
tap_lane() {
	local name=$1 f
	shift
	f=$(mktemp)
	(
		t0=$SECONDS
		"$@" > "$f" 2>&1
		echo "$? $((SECONDS - t0))" > "$f.end"
	) &
	TL_PIDS+=($!)
	TL_NAMES+=("$name")
	TL_FILES+=("$f")
	echo "# lane $name started"
}

tap_lanes_wait() {
	local i f rc secs
	for i in "${!TL_PIDS[@]}"; do
		wait "${TL_PIDS[$i]}"
	done
	for i in "${!TL_PIDS[@]}"; do
		f=${TL_FILES[$i]}
		read -r rc secs < "$f.end" 2>/dev/null || { rc=1 secs=0; }
		echo "# ==== lane ${TL_NAMES[$i]} (${secs}s)"
		cat "$f"
		tap_count "${TL_NAMES[$i]}" "$f" "$rc" "$secs"
		rm -f "$f" "$f.end"
	done
	TL_NAMES=() TL_FILES=() TL_PIDS=()
}
