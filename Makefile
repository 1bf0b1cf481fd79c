# tern - build everything: `make` (gcc), `make CC=clang`, `make SAN=1` (ASan+UBSan).
# Output goes to $(BUILD) (default build/; the test script uses build-clang/, build-san/).

BUILD   ?= build
CC      ?= gcc
SAN     ?= 0

WARN     := -Wall -Wextra -Werror
CFLAGS   := -std=gnu11 $(WARN) -O2 -g -D_GNU_SOURCE -Isrc -Iguest -pthread -MMD -MP
LDLIBS   := -pthread -ljansson -lxxhash -lssl -lcrypto
ifeq ($(FUZZ),1)                     # libFuzzer build (clang): make BUILD=build-fuzz CC=clang FUZZ=1 fuzz
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=fuzzer,address,undefined
endif
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

# Host sources: every src/<subsys>/*.c; cli/main.c holds main().
LIB_SRCS  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/src/cli/main.o

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# shared test helpers: tests/unit/*.c that are not tests themselves
UNIT_HELP := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_HOBJ := $(UNIT_HELP:%.c=$(BUILD)/%.o)

.PHONY: all tern psp guests unit clean
all: tern psp guests unit tools

tern: $(BUILD)/tern
$(BUILD)/tern: $(LIB_OBJS) $(MAIN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The version (src/util/version.h) carries `git describe` when built from a
# git tree. Only version.o sees it; the stamp file changes (and version.o is
# rebuilt) only when the description does.
TERN_GIT := $(if $(wildcard .git),$(shell git describe --always --dirty 2>/dev/null))
$(BUILD)/git-describe: FORCE
	@mkdir -p $(BUILD)
	@echo '$(TERN_GIT)' | cmp -s - $@ || echo '$(TERN_GIT)' >$@
$(BUILD)/src/util/version.o: $(BUILD)/git-describe
$(BUILD)/src/util/version.o: CFLAGS += $(if $(TERN_GIT),-DTERN_GIT='"$(TERN_GIT)"')
.PHONY: FORCE

# tern-psp: the emulated SEV platform daemon (psp/). It is its own trust
# domain and links only what it uses: util, crypto and the protocol's
# client (its socket probe at start), never the VMM.
PSP_SRCS  := $(wildcard psp/*.c)
PSP_OBJS  := $(PSP_SRCS:%.c=$(BUILD)/%.o)
PSP_LIB   := $(filter-out $(BUILD)/psp/main.o,$(PSP_OBJS))
PSP_DEPS  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/util/*.c src/crypto/*.c) src/cc/psp_client.c)
CFLAGS    += -Ipsp
psp: $(BUILD)/tern-psp
$(BUILD)/tern-psp: $(PSP_OBJS) $(PSP_DEPS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BINS)
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(UNIT_HOBJ) $(LIB_OBJS) $(PSP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# test_helper_seal: the migration helper's sealing core (guest/helper/seal.c)
# compiled with the host's flags (sanitizers included), and BearSSL.
$(BUILD)/tests/test_helper_seal: $(BUILD)/tests/helper/seal.o
$(BUILD)/tests/test_helper_seal: LDLIBS += -lbearssl
$(BUILD)/tests/helper/seal.o: guest/helper/seal.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# fuzz targets: tests/fuzz/fuzz_*.c, each linked with src/ and psp/ code
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
.PHONY: fuzz
fuzz: $(FUZZ_BINS)
$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIB_OBJS) $(PSP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

include guest/guest.mk
include tests/tools/tools.mk

# make install: what `make` built, where a Debian package puts it; the
# units' paths follow PREFIX. It does not build (so `sudo make install`
# never compiles as root, nor with other flags than the build had): run
# `make` first.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
GUESTDIR := $(DESTDIR)$(PREFIX)/lib/tern/guest
DOCDIR  := $(DESTDIR)$(PREFIX)/share/doc/tern
UNITDIR := $(DESTDIR)$(PREFIX)/lib/systemd/system
DOCS    := README.md $(wildcard docs/*.md)
UNITS   := tern-psp.socket tern-psp.service
.PHONY: install uninstall
install:
	@for f in $(BUILD)/tern $(BUILD)/tern-psp; do \
		[ -x $$f ] || { echo "make install: $$f is not built: run make first" >&2; exit 1; }; done
	install -d $(BINDIR) $(GUESTDIR) $(DOCDIR) $(UNITDIR)
	install -m 0755 $(BUILD)/tern $(BUILD)/tern-psp $(BINDIR)/
	$(if $(wildcard $(BUILD)/guest/*.elf),install -m 0644 $(wildcard $(BUILD)/guest/*.elf) $(GUESTDIR)/)
	install -m 0644 $(DOCS) $(DOCDIR)/
	for u in $(UNITS); do \
		sed 's|/usr/bin/|$(PREFIX)/bin/|; s|/usr/share/doc/|$(PREFIX)/share/doc/|' \
			packaging/systemd/$$u >$(UNITDIR)/$$u && chmod 0644 $(UNITDIR)/$$u || exit 1; done

uninstall:
	rm -f $(BINDIR)/tern $(BINDIR)/tern-psp $(addprefix $(UNITDIR)/,$(UNITS))
	rm -rf $(DESTDIR)$(PREFIX)/lib/tern $(DOCDIR)

clean:
	rm -rf build build-clang build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
