#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every libFuzzer target (tests/fuzz/fuzz_*.c) for a short, bounded run:
# FUZZ_TIME seconds each (default 10), over the committed seed corpora.
# `make fuzz FUZZ_TIME=600` is the long run.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

fuzz_target() {
	make -s -C "$top/tests" fuzz FUZZ_TIME="${FUZZ_TIME:-5}" FUZZ_TARGETS="$1" 2>&1 | tail -n 40
	[ "${PIPESTATUS[0]}" -eq 0 ]
}

# clang is a build dependency (scripts/install-deps.sh): without it this fails.
make -s -C "$top/tests" fuzz-build >/dev/null 2>&1 ||
	{ echo "not ok 1 - the fuzz targets build with clang"; make -s -C "$top/tests" fuzz-build 2>&1 | tail -n 20 | tap_diag; exit 1; }
for src in "$top"/tests/fuzz/fuzz_*.c; do
	t=${src##*/fuzz_}
	t=${t%.c}
	test_that "fuzz_$t survives a ${FUZZ_TIME:-5} s libFuzzer run over its seed corpus" fuzz_target "$t"
done
tap_done
