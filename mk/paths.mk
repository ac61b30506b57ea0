# SPDX-License-Identifier: GPL-2.0
#
# The installation layout, shared by the top-level Makefile and mk/common.mk.
# Every directory follows PREFIX unless given. SYSCONFDIR, RUNSTATEDIR and
# LOCALSTATEDIR are also compiled into the programs (their default config
# files, agent socket and state directories), and the systemd units are
# generated with SBINDIR and those, so a build is laid out one way throughout.
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
DOCDIR ?= $(PREFIX)/share/doc/ebscrypt
MANDIR ?= $(PREFIX)/share/man
ifeq ($(PREFIX),/usr)
# A system build: the system's own /etc, /var, /run and unit directory.
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
RUNSTATEDIR ?= /run
UNITDIR ?= /lib/systemd/system
UDEVDIR ?= /lib/udev
SYSUSERSDIR ?= /usr/lib/sysusers.d
GENERATORDIR ?= /lib/systemd/system-generators
else
SYSCONFDIR ?= $(PREFIX)/etc
LOCALSTATEDIR ?= $(PREFIX)/var
RUNSTATEDIR ?= $(LOCALSTATEDIR)/run
UNITDIR ?= $(PREFIX)/lib/systemd/system
UDEVDIR ?= $(PREFIX)/lib/udev
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
GENERATORDIR ?= $(PREFIX)/lib/systemd/system-generators
endif
# Bash completion: loaded on demand by bash-completion, by command name.
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=
