#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# No two files of a program import each other, through #include or through
# the symbols their objects define and use (scripts/import-circles, over the
# objects of this build).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

for c in lib kmsd agent ebscryptctl; do
	test_that "the files of $c import each other without a circle" \
		"$top/scripts/import-circles" --build "${BUILD:-$top/build}" "$c"
done
tap_done
