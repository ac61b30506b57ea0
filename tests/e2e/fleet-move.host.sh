#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check's share of the fleet tests: a volume's graceful move between
# two hosts on a private network, over mutual TLS and NBD. The full set is
# `make check-fleet` (tests/fleet/fleet.host.sh).
exec bash "$(dirname "$0")/../fleet/fleet.host.sh" --smoke
