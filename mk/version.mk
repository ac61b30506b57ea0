# SPDX-License-Identifier: GPL-2.0
#
# EBS_VERSION: the one version of everything (the programs' --version, the
# module's MODULE_VERSION, the Debian packages), written in one place: the
# newest entry of debian/changelog. A tree without debian/ (the module
# source that ebscrypt-dkms installs) carries it in a file named VERSION.
# EBS_VERSION_TOP is the tree's top directory (TOP, or this file's parent
# when Kbuild includes it).
EBS_VERSION_TOP ?= $(TOP)
EBS_VERSION := $(shell awk 'NR == 1 { gsub(/[()]/, "", $$2); print $$2; exit }' \
                 $(EBS_VERSION_TOP)/debian/changelog 2>/dev/null)
ifeq ($(EBS_VERSION),)
EBS_VERSION := $(shell cat $(EBS_VERSION_TOP)/VERSION 2>/dev/null)
endif
ifeq ($(EBS_VERSION),)
$(error no version: $(EBS_VERSION_TOP) has neither debian/changelog nor VERSION)
endif
