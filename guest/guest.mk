# guest/guest.mk - freestanding test guests, included by the top-level Makefile.
# Own flags (never CFLAGS/LDFLAGS, which may carry sanitizers); built with $(CC),
# gcc or clang. Each guest links as ELF64 and is converted to ELF32 because
# QEMU's multiboot loader refuses 64-bit ELF files.
#
# Guests link BearSSL statically from Debian's libbearssl-dev (built hosted:
# it may use SSE, which the boot stub enables, and needs the libc shims in
# guest/rt/libc_shim.c). Only the archive members a guest uses are pulled in,
# and --gc-sections drops what they do not need.

GUEST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g \
	-ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie -fno-stack-protector \
	-mno-red-zone -mgeneral-regs-only -mcmodel=small \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
	-Iguest/rt -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -Wl,-T,guest/rt/link.ld \
	-Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack \
	-Wl,--gc-sections
GUEST_LIBS    := -lbearssl

GUEST_C_SRCS  := $(wildcard guest/*/*.c)
GUEST_S_SRCS  := $(wildcard guest/*/*.S)
GUEST_RT_OBJS := $(patsubst %,$(BUILD)/%.o,$(basename $(wildcard guest/rt/*.c guest/rt/*.S)))

# Static pattern rules, so the top-level host rule for $(BUILD)/%.o never applies.
$(GUEST_C_SRCS:%.c=$(BUILD)/%.o): $(BUILD)/guest/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_S_SRCS:%.S=$(BUILD)/%.o): $(BUILD)/guest/%.o: guest/%.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

# A guest program: $(BUILD)/guest/NAME.elf from guest/work/NAME.c + the runtime.
$(BUILD)/guest/%.elf64: $(BUILD)/guest/work/%.o $(GUEST_RT_OBJS) guest/rt/link.ld
	$(CC) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^) $(GUEST_LIBS)

$(BUILD)/guest/%.elf: $(BUILD)/guest/%.elf64
	objcopy -O elf32-i386 --strip-debug $< $@

.PRECIOUS: $(BUILD)/guest/%.elf64 $(BUILD)/guest/work/%.o

# The migration helper (guest/helper/): its own link script (placed at its
# reserved region, docs/guest-abi.md), none of the runtime's boot path, only
# its string functions. ELF64 as linked, not converted: the VMM loads it
# into the mirror VM, which starts in 64-bit mode; no multiboot loader sees it.
HELPER_OBJS    := $(patsubst %,$(BUILD)/%.o,$(basename $(wildcard guest/helper/*.c guest/helper/*.S))) \
	$(BUILD)/guest/rt/string.o
HELPER_LDFLAGS := -nostdlib -static -Wl,-T,guest/helper/link.ld \
	-Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack \
	-Wl,--gc-sections

$(BUILD)/guest/helper.elf64: $(HELPER_OBJS) guest/helper/link.ld
	$(CC) $(HELPER_LDFLAGS) -o $@ $(filter %.o,$^) $(GUEST_LIBS)

$(BUILD)/guest/helper.elf: $(BUILD)/guest/helper.elf64
	objcopy --strip-debug $< $@

# Test-only helpers that hang or fault at their first SEAL (main.c,
# test_fault): the real program otherwise, for the VMM's dead-helper tests.
# Static pattern rules over exactly these targets (a plain pattern would
# also offer to make main-hang.d.o and the like).
HELPER_VARIANTS := hang crash
$(HELPER_VARIANTS:%=$(BUILD)/guest/helper/main-%.o): $(BUILD)/guest/helper/main-%.o: guest/helper/main.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -DHELPER_TEST_$(shell echo $* | tr a-z A-Z) -c -o $@ $<

$(HELPER_VARIANTS:%=$(BUILD)/guest/helper-%.elf): $(BUILD)/guest/helper-%.elf: \
		$(filter-out $(BUILD)/guest/helper/main.o,$(HELPER_OBJS)) $(BUILD)/guest/helper/main-%.o \
		guest/helper/link.ld
	$(CC) $(HELPER_LDFLAGS) -o $@ $(filter %.o,$^) $(GUEST_LIBS)

guests: $(BUILD)/guest/dirtier.elf $(BUILD)/guest/helper.elf \
	$(HELPER_VARIANTS:%=$(BUILD)/guest/helper-%.elf)
