# SPDX-License-Identifier: GPL-2.0
#
# Shared userspace build rules. Every userspace Makefile includes this file
# and builds into $(BUILD)/<its dir>, so the plain build and the sanitizer
# build (BUILD=build-asan SANITIZE=1) can sit side by side.
#
# CFLAGS, CPPFLAGS and LDFLAGS are the caller's (a packager's, a developer's)
# and are used as given, after the project's own EBS_* flags, which they can
# therefore override. WERROR=1 (make check, CI) turns warnings into errors.

# Immediate (:=): a deferred value would be re-evaluated after the .d files
# are included, when MAKEFILE_LIST no longer ends with this file.
ifndef TOP
TOP      := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
endif
include $(TOP)/mk/paths.mk
include $(TOP)/mk/version.mk
BUILD    ?= $(TOP)/build
PKG_CONFIG ?= pkg-config

CFLAGS   ?= -O2 -g
EBS_CPPFLAGS := -D_GNU_SOURCE -I$(TOP)/lib \
                -DEBS_SYSCONFDIR='"$(SYSCONFDIR)"' -DEBS_RUNSTATEDIR='"$(RUNSTATEDIR)"' \
                -DEBS_LOCALSTATEDIR='"$(LOCALSTATEDIR)"' -DEBS_VERSION='"$(EBS_VERSION)"'
EBS_CFLAGS   := -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 \
                -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
                -fstack-protector-strong -fno-common
EBS_LDFLAGS  := -Wl,-z,relro,-z,now

ifeq ($(WERROR),1)
EBS_CFLAGS   += -Werror
endif

ifeq ($(SANITIZE),1)
EBS_CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
EBS_LDFLAGS  += -fsanitize=address,undefined
else
# _FORTIFY_SOURCE=2 unless the caller's flags or the compiler already pick a
# level (Debian's and Fedora's build flags pass =3, some compilers predefine
# it: a second definition would be a redefinition), and only when optimising,
# which it needs.
EBS_CPPFLAGS += $(shell printf '' | $(CC) $(CPPFLAGS) $(CFLAGS) -dM -E - 2>/dev/null | \
                  awk '$$2 == "__OPTIMIZE__" { o = 1 } $$2 == "_FORTIFY_SOURCE" { f = 1 } \
                       END { if (o && !f) print "-D_FORTIFY_SOURCE=2" }')
endif

# The including Makefile's "all", not the first rule below.
.DEFAULT_GOAL := all

EBS_COMPILE = $(CC) $(EBS_CPPFLAGS) $(CPPFLAGS) $(EBS_CFLAGS) $(CFLAGS)
LIBEBSCRYPT := $(BUILD)/lib/libebscrypt.a

# The flags every object was compiled with: when they change (CFLAGS, WERROR,
# a path), the objects are rebuilt rather than mixed with older ones.
$(BUILD)/.flags: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' '$(subst ','\'',$(EBS_COMPILE))' >$@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(BUILD)/%.o: $(TOP)/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(EBS_COMPILE) -MMD -MP -c -o $@ $<

FORCE:
.PHONY: FORCE
