# tinyllm. `make` builds ./tinyllm; `make test` runs the suite;
# `make test SANITIZE=1` runs it under ASan+UBSan; `make bench` benchmarks.
# This is the only place ISA flags appear, each on the one file that needs it.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=
OPENMP   ?=
RUN      ?=

ARCH := $(shell $(CC) -dumpmachine 2>/dev/null | cut -d- -f1)
NATIVE_ARCH := $(shell uname -m)
BUILD := build/$(ARCH)$(if $(SANITIZE),-san)$(if $(OPENMP),-omp)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc
LDLIBS   += -lm -pthread
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifneq ($(OPENMP),)
CFLAGS  += -fopenmp
LDFLAGS += -fopenmp
endif

# Sources live in folders under src/ (see README's Layout); kernel files per
# architecture, every other src/**/*.c is portable.
ALL_SRC         := $(shell find src -name '*.c' | LC_ALL=C sort)
ISA_SRC_x86_64  := src/kernels/avx2.c src/kernels/avx512.c
ISA_SRC_aarch64 := src/kernels/neon.c src/kernels/neon_dot.c
ALL_ISA_SRC     := $(ISA_SRC_x86_64) $(ISA_SRC_aarch64)
PORTABLE_SRC    := $(filter-out src/cli/main.c $(ALL_ISA_SRC),$(ALL_SRC))
LIB_SRC         := $(PORTABLE_SRC) $(filter $(ALL_SRC),$(ISA_SRC_$(ARCH)))
LIB_OBJ         := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
ALL_HDR         := $(shell find src include -name '*.h')

$(BUILD)/kernels/avx2.o:     ISA_FLAGS := -mavx2 -mfma -mf16c
$(BUILD)/kernels/avx512.o:   ISA_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
$(BUILD)/kernels/neon_dot.o: ISA_FLAGS := -march=armv8.2-a+fp16+dotprod

TEST_SRC := $(wildcard tests/test_*.c)
# `make test TESTS="oracle kernels"` runs a subset (e.g. under qemu)
TESTS    ?=
TEST_BIN := $(if $(TESTS),$(TESTS:%=$(BUILD)/tests/test_%),$(TEST_SRC:tests/%.c=$(BUILD)/tests/%))
TOOL_SRC := $(wildcard tests/tool_*.c)
TOOL_BIN := $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_LIB_SRC := $(filter-out $(TEST_SRC) $(TOOL_SRC),$(wildcard tests/*.c))
TEST_LIB_OBJ := $(TEST_LIB_SRC:tests/%.c=$(BUILD)/tests/%.o)

.PHONY: all test bench install clean tools
# keep test objects (made through pattern rules, so intermediate): they are
# shared by every test binary. Only these: a bare .SECONDARY would let a
# stale ./tinyllm stand when build/ was removed.
.SECONDARY: $(TEST_LIB_OBJ) $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o) $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%.o)
all: $(BUILD)/tinyllm
ifeq ($(ARCH)$(SANITIZE)$(OPENMP),$(NATIVE_ARCH))
all: tinyllm
tinyllm: $(BUILD)/tinyllm
	cp $< $@
endif

$(BUILD)/%.o: src/%.c $(ALL_HDR) | $(BUILD)/tests
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ISA_FLAGS) -c $< -o $@

# The chat page server/page.c serves: src/server/page.html as the bytes of
# a C array, so the binary needs no file at run time.
PAGE_INC := $(BUILD)/gen/page_html.inc
$(BUILD)/server/page.o: $(PAGE_INC)
$(BUILD)/server/page.o: CPPFLAGS += -I$(BUILD)/gen
$(PAGE_INC): src/server/page.html
	@mkdir -p $(dir $@)
	od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' > $@

$(BUILD)/libtinyllm.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/tinyllm: $(BUILD)/cli/main.o $(BUILD)/libtinyllm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c $(wildcard tests/*.h) $(ALL_HDR) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -c $< -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_LIB_OBJ) $(BUILD)/libtinyllm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/tool_%: $(BUILD)/tests/tool_%.o $(TEST_LIB_OBJ) $(BUILD)/libtinyllm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests:
	mkdir -p $@

tools: $(TOOL_BIN)

test: $(BUILD)/tinyllm $(TEST_BIN) $(TOOL_BIN)
	@TINYLLM_BIN="$(strip $(RUN) $(BUILD)/tinyllm)" RUN="$(RUN)" sh tests/run_tests.sh $(TEST_BIN)

# Random-weight TinyLlama/MobileLLM-shaped models, ours vs LLAMA_BENCH if set.
bench: all $(TOOL_BIN)
	BUILD=$(BUILD) sh scripts/bench.sh

install: $(BUILD)/tinyllm
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/tinyllm $(DESTDIR)$(PREFIX)/bin/tinyllm

clean:
	rm -rf build tinyllm
