#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A short libFuzzer run over the key policy checker and evaluator (skipped
# without clang).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

fuzz_short_run() {
	make -s -C "$top/tests" fuzz-policy FUZZ_TIME="${FUZZ_TIME:-10}" 2>&1 | tail -n 5
	[ "${PIPESTATUS[0]}" -eq 0 ]
}

if command -v clang >/dev/null 2>&1; then
	test_that "the key policy checker and evaluator survive a short libFuzzer run" fuzz_short_run
else
	tap_skip "the key policy checker and evaluator survive a short libFuzzer run" "clang not installed"
fi
tap_done
