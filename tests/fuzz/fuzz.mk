# SPDX-License-Identifier: GPL-2.0
#
# libFuzzer targets, built with clang (ASan, UBSan, libFuzzer) from the
# programs' own sources: every tests/fuzz/fuzz_*.c links against archives of
# lib/, kmsd and the agent (main.c left out) compiled for fuzzing.
#
#   make fuzz [FUZZ_TIME=seconds] [FUZZ_TARGETS="sigv4 policy"]
#
# runs each target for FUZZ_TIME seconds (default 15) over its committed
# seed corpus, tests/fuzz/corpus/<name>; new inputs go to a scratch corpus
# under build-fuzz/, crashes to build-fuzz/artifacts/. A target that fails
# stops the run with its reproducer named.
FUZZ_TIME    ?= 15
FUZZ_CC      ?= clang
FUZZ_BUILD   := $(TOP)/build-fuzz
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_INC     := -I$(TOP)/kms-agent/kmsd -I$(TOP)/kms-agent/agent -I$(TOP)/tests/fuzz
FUZZ_LIBS    := -lmicrohttpd -lcurl -ljson-c -lsqlite3 -ldevmapper -lkeyutils -lblkid -lssl -lcrypto -lpthread

FUZZ_SRCS    := $(wildcard $(TOP)/tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRCS:$(TOP)/tests/fuzz/fuzz_%.c=%)
FUZZ_TARGETS ?= $(FUZZ_NAMES)
# The kmsd targets' store and the agent's fixtures: in memory where possible.
FUZZ_TMPDIR  ?= $(if $(wildcard /dev/shm),/dev/shm,/tmp)
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

fuzz_objs = $(patsubst $(TOP)/%.c,$(FUZZ_BUILD)/%.o,$(filter-out %/main.c,$(wildcard $(TOP)/$(1)/*.c)))
FUZZ_AR_LIB   := $(FUZZ_BUILD)/libebscrypt.a
FUZZ_AR_KMSD  := $(FUZZ_BUILD)/libkmsd.a
FUZZ_AR_AGENT := $(FUZZ_BUILD)/libagent.a

$(FUZZ_BUILD)/%.o: $(TOP)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(EBS_CPPFLAGS) $(FUZZ_INC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_AR_LIB): $(call fuzz_objs,lib)
$(FUZZ_AR_KMSD): $(call fuzz_objs,kms-agent/kmsd)
$(FUZZ_AR_AGENT): $(call fuzz_objs,kms-agent/agent)
$(FUZZ_AR_LIB) $(FUZZ_AR_KMSD) $(FUZZ_AR_AGENT):
	rm -f $@
	$(AR) rcs $@ $^

FUZZ_KMSD_FIXTURE := $(FUZZ_BUILD)/tests/fuzz/kmsd_fixture.o
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_KMSD_FIXTURE) $(FUZZ_AR_KMSD) $(FUZZ_AR_AGENT) \
		      $(FUZZ_AR_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_KMSD_FIXTURE) $(FUZZ_AR_KMSD) $(FUZZ_AR_AGENT) \
		$(FUZZ_AR_LIB) $(FUZZ_LIBS)

# Kept: make would otherwise delete the chained objects and rebuild them every time.
.SECONDARY: $(FUZZ_SRCS:$(TOP)/%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_KMSD_FIXTURE)

fuzz-build: $(FUZZ_BINS)

# detect_leaks: the daemons' long-lived state is set up once per process,
# and libFuzzer reports only what one input leaks.
fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
		echo "# fuzz_$$t for $(FUZZ_TIME) s"; \
		dict=; [ ! -f $(TOP)/tests/fuzz/$$t.dict ] || dict=-dict=$(TOP)/tests/fuzz/$$t.dict; \
		TMPDIR=$(FUZZ_TMPDIR) ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -timeout=20 -rss_limit_mb=2048 \
			-max_len=8192 $$dict -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
			$(FUZZ_BUILD)/corpus/$$t $(TOP)/tests/fuzz/corpus/$$t 2>$(FUZZ_BUILD)/fuzz_$$t.log || \
			{ tail -n 60 $(FUZZ_BUILD)/fuzz_$$t.log; echo "fuzz_$$t failed: see $(FUZZ_BUILD)/artifacts/"; exit 1; }; \
		grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' $(FUZZ_BUILD)/fuzz_$$t.log || :; \
	done

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
.PHONY: fuzz fuzz-build
