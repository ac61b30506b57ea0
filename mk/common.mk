# SPDX-License-Identifier: GPL-2.0
#
# Shared userspace build rules. Every userspace Makefile includes this file
# and builds into $(BUILD)/<its dir>, so the plain build and the sanitizer
# build (BUILD=build-asan SANITIZE=1) can sit side by side.

# Immediate (:=): a deferred value would be re-evaluated after the .d files
# are included, when MAKEFILE_LIST no longer ends with this file.
ifndef TOP
TOP      := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
endif
BUILD    ?= $(TOP)/build
CC       ?= cc
PKG_CONFIG ?= pkg-config

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
            -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
            -fstack-protector-strong -fno-common -D_GNU_SOURCE \
            -I$(TOP)/lib
LDFLAGS  += -Wl,-z,relro,-z,now

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
else
CFLAGS   += -D_FORTIFY_SOURCE=2
endif

LIBEBSCRYPT := $(BUILD)/lib/libebscrypt.a

$(BUILD)/%.o: $(TOP)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c -o $@ $<
