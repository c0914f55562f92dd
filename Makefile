# SPDX-License-Identifier: Apache-2.0
# kpleg build. `make` builds build/kpleg and build/libkpleg.a; `make test` runs
# every test (starting private containerd 1.6 and 1.7); `make demo` shows kpleg
# on a private containerd 1.7. Set-up happens on demand through
# scripts/install-deps.sh. V=1 prints full commands; SANITIZE=1 builds
# everything with ASan+UBSan into build/asan.

.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD ?= build/asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PROTOC ?= protoc
PROTOC_C ?= protoc-c
DEPS_DIR := .deps
DEPS_STAMP := $(DEPS_DIR)/.stamp

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS := grpc libprotobuf-c libbpf json-c
# Recursive on purpose: pkg-config runs after install-deps.sh has run.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Only the kpleg binary serves HTTP (daemon --metrics-address).
MHD_LIBS = $(shell pkg-config --libs libmicrohttpd 2>/dev/null)

GEN := $(BUILD)/gen
CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
	-Wformat=2 -Wshadow -fno-strict-aliasing $(SAN_FLAGS) \
	-Iinclude -Iuser -Itests/support -Itests/fakecri -I$(GEN) $(PKG_CFLAGS)
override LDFLAGS += $(SAN_FLAGS)
LDLIBS = $(PKG_LIBS) -lelf -lz -lpthread

ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra \
	-Wno-unused-parameter -I$(GEN) -Iinclude

# ---- sources -------------------------------------------------------------
PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(GEN)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(wildcard user/*.c)
CLI_SRCS := $(wildcard user/cli/*.c)
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) \
	$(patsubst $(GEN)/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_C))
CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRCS))

FAKECRI_SRCS := $(filter-out tests/fakecri/main.c,$(wildcard tests/fakecri/*.c))
FAKECRI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(FAKECRI_SRCS))
# Test support shared by tests, tools, demo and benchmarks.
SUPPORT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support/*.c))

TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

DESC_PROTO := $(GEN)/google/protobuf/descriptor.pb-c.c
UPSTREAM_PROTO := $(DEPS_DIR)/cri-api/api.proto

# ---- top-level targets ---------------------------------------------------
.PHONY: all deps test demo bench clean distclean install uninstall
all: $(BUILD)/kpleg $(BUILD)/libkpleg.a $(BUILD)/fakecri $(BUILD)/podctl

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps.sh
	$(Q)scripts/install-deps.sh

BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

test: all $(TEST_BINS) $(GEN)/cri.desc $(GEN)/upstream.desc $(GEN)/bad_cri.desc
	$(Q)BUILD=$(BUILD) scripts/run-tests.sh

demo: all
	$(Q)BUILD=$(BUILD) scripts/demo.sh

# Side-by-side benchmarks; writes bench/RESULTS.md, bench/latency.svg and README.md's
# numbers block (takes ~15-18 minutes here; BENCH_ONLY=... runs some sections).
bench: all $(BENCH_BINS)
	$(Q)BUILD=$(BUILD) BENCH_BIN=$(BUILD)/bench bench/run.sh

clean:
	rm -rf build

# ---- install (docs/DEPLOY.md) ------------------------------------------------
# `make install PREFIX=/usr DESTDIR=/tmp/pkg`. The systemd unit's and the
# pkg-config file's paths follow PREFIX; the config file is never overwritten.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
DOCDIR ?= $(DATADIR)/doc/kpleg
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
INSTALL ?= install
DOCS := README.md docs/DEPLOY.md docs/THREAT_MODEL.md docs/DESIGN.md docs/EVENTS.md

install: $(BUILD)/kpleg $(BUILD)/libkpleg.a
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -D -m 0755 $(BUILD)/kpleg $(DESTDIR)$(BINDIR)/kpleg
	$(Q)$(INSTALL) -D -m 0644 $(BUILD)/libkpleg.a $(DESTDIR)$(LIBDIR)/libkpleg.a
	$(Q)$(INSTALL) -D -m 0644 include/kpleg/kpleg.h $(DESTDIR)$(INCLUDEDIR)/kpleg/kpleg.h
	$(Q)$(INSTALL) -D -m 0644 proto/kpleg.proto $(DESTDIR)$(DATADIR)/kpleg/kpleg.proto
	$(Q)$(INSTALL) -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		deploy/kpleg.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kpleg.pc
	$(Q)sed -e 's|/usr/local/bin/kpleg|$(BINDIR)/kpleg|; s|/etc/kpleg/|$(SYSCONFDIR)/kpleg/|' \
		-e 's|/usr/local/share/doc/kpleg/|$(DOCDIR)/|' \
		deploy/kpleg.service > $(DESTDIR)$(UNITDIR)/kpleg.service
	$(Q)chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/kpleg.pc $(DESTDIR)$(UNITDIR)/kpleg.service
	$(Q)$(INSTALL) -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	$(Q)test -e $(DESTDIR)$(SYSCONFDIR)/kpleg/kpleg.conf || \
		$(INSTALL) -D -m 0644 deploy/kpleg.conf $(DESTDIR)$(SYSCONFDIR)/kpleg/kpleg.conf

# Leaves the config file (it may hold the operator's settings).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kpleg $(DESTDIR)$(LIBDIR)/libkpleg.a \
		$(DESTDIR)$(INCLUDEDIR)/kpleg/kpleg.h $(DESTDIR)$(DATADIR)/kpleg/kpleg.proto \
		$(DESTDIR)$(LIBDIR)/pkgconfig/kpleg.pc $(DESTDIR)$(UNITDIR)/kpleg.service \
		$(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/kpleg $(DESTDIR)$(DATADIR)/kpleg $(DESTDIR)$(DOCDIR) 2>/dev/null

distclean: clean
	rm -rf $(DEPS_DIR)

# ---- generated code --------------------------------------------------------
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto $(DEPS_STAMP)
	$(call msg,PROTOC-C,$<)
	$(Q)mkdir -p $(GEN) && $(PROTOC_C) --c_out=$(GEN) -Iproto $<

$(DESC_PROTO) $(DESC_PROTO:.c=.h): $(DEPS_STAMP)
	$(call msg,PROTOC-C,descriptor.proto)
	$(Q)mkdir -p $(GEN) && $(PROTOC_C) --c_out=$(GEN) -I/usr/include google/protobuf/descriptor.proto

$(GEN)/%.desc: proto/%.proto $(DEPS_STAMP)
	$(call msg,DESC,$@)
	$(Q)mkdir -p $(GEN) && $(PROTOC) --include_imports --descriptor_set_out=$@ -Iproto $<

$(GEN)/bad_cri.desc: tests/data/bad_cri.proto $(DEPS_STAMP)
	$(call msg,DESC,$@)
	$(Q)mkdir -p $(GEN) && $(PROTOC) --include_imports --descriptor_set_out=$@ -Itests/data $<

# Upstream api.proto imports gogo.proto only for file-level options
# (REFERENCE.md §2): drop those lines and compile the rest unchanged.
$(GEN)/upstream.desc: $(DEPS_STAMP)
	$(call msg,DESC,$@)
	$(Q)mkdir -p $(GEN)/upstream && sed '/gogo/d' $(UPSTREAM_PROTO) > $(GEN)/upstream/api.proto && \
		$(PROTOC) --include_imports --descriptor_set_out=$@ -I$(GEN)/upstream $(GEN)/upstream/api.proto

$(GEN)/vmlinux.h: $(DEPS_STAMP)
	$(call msg,BTF,$@)
	$(Q)mkdir -p $(GEN) && $(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(GEN)/vmlinux.h $(wildcard bpf/*.h include/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(dir $@) && $(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(GEN)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# ---- objects ---------------------------------------------------------------
# Every user object waits for all generated headers; dependency files track the rest.
$(BUILD)/obj/%.o: %.c $(PROTO_H) $(SKELS) $(DEPS_STAMP)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/gen/%.o: $(GEN)/%.c $(PROTO_H)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(CFLAGS) -Wno-shadow -c $< -o $@

$(BUILD)/libkpleg.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libfakecri.a: $(FAKECRI_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/kpleg: $(CLI_OBJS) $(BUILD)/libkpleg.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) $(MHD_LIBS) -o $@

$(BUILD)/libtestsupport.a: $(SUPPORT_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/podctl: $(BUILD)/obj/tests/tools/podctl.o $(BUILD)/libtestsupport.a $(BUILD)/libkpleg.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libtestsupport.a $(BUILD)/libkpleg.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/fakecri: $(BUILD)/obj/tests/fakecri/main.o $(BUILD)/libfakecri.a $(BUILD)/libkpleg.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_proto_compat: $(BUILD)/obj/tests/test_proto_compat.o $(BUILD)/obj/gen/google/protobuf/descriptor.pb-c.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/obj/tests/test_proto_compat.o: $(DESC_PROTO:.c=.h)

# The capability drop lives in the CLI (user/cli/privs.c), not in libkpleg.
$(BUILD)/tests/test_privs: $(BUILD)/obj/tests/test_privs.o $(BUILD)/obj/user/cli/privs.o \
		$(BUILD)/libtestsupport.a $(BUILD)/libfakecri.a $(BUILD)/libkpleg.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/libtestsupport.a $(BUILD)/libfakecri.a $(BUILD)/libkpleg.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@) && $(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# ---- upstream-cri: a CRI client from the upstream api.proto alone -----------
# Independent of kpleg on purpose (tests/upstream_client_test.sh): protoc-c
# output of the sed'ed upstream proto that upstream.desc makes, its own objects
# and include path (none of kpleg's), linked with no kpleg library. Same
# runtime.v1 symbol names as kpleg's cri.pb-c, so the two never meet.
UPCRI_GEN := $(GEN)/upstream-c
UPCRI_OBJ := $(BUILD)/obj/upstream-cri
UPCRI_OBJS := $(patsubst tests/tools/upstream_cri/%.c,$(UPCRI_OBJ)/%.o,\
	$(wildcard tests/tools/upstream_cri/*.c)) $(UPCRI_OBJ)/api.pb-c.o
UPCRI_PKGS := grpc libprotobuf-c json-c
UPCRI_CFLAGS = $(filter-out -I%,$(CFLAGS)) -I$(UPCRI_GEN) \
	$(shell pkg-config --cflags $(UPCRI_PKGS) 2>/dev/null)
UPCRI_LIBS = $(shell pkg-config --libs $(UPCRI_PKGS) 2>/dev/null) -lpthread

.PHONY: upstream-cri
upstream-cri: $(BUILD)/upstream-cri
test: $(BUILD)/upstream-cri

# A pattern rule, so that one protoc-c run makes both files under -j.
$(UPCRI_GEN)/%.pb-c.c $(UPCRI_GEN)/%.pb-c.h: $(GEN)/upstream.desc
	$(call msg,PROTOC-C,$(GEN)/upstream/$*.proto)
	$(Q)mkdir -p $(UPCRI_GEN) && \
		$(PROTOC_C) --c_out=$(UPCRI_GEN) -I$(GEN)/upstream $(GEN)/upstream/$*.proto

$(UPCRI_OBJ)/api.pb-c.o: $(UPCRI_GEN)/api.pb-c.c $(UPCRI_GEN)/api.pb-c.h
	$(call msg,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(UPCRI_CFLAGS) -c $< -o $@

$(UPCRI_OBJ)/%.o: tests/tools/upstream_cri/%.c $(UPCRI_GEN)/api.pb-c.h $(DEPS_STAMP)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(dir $@) && $(CC) $(UPCRI_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/upstream-cri: $(UPCRI_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(UPCRI_LIBS) -o $@

# ---- fuzz: libFuzzer targets (tests/fuzz/*.c) ----------------------------------
# Built with clang (-fsanitize=fuzzer,address,undefined) into build/fuzz, with
# their own clang objects of the library (build/fuzz/obj), so the gcc build is
# untouched; generated headers come from $(GEN). `make fuzz` runs each target
# for FUZZ_SECONDS on a scratch copy of tests/fuzz/corpus/<target>/
# (scripts/fuzz.sh) and fails on any finding.
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wno-unused-parameter $(FUZZ_SAN) \
	-Iinclude -Iuser -Iuser/cli -I$(GEN) $(PKG_CFLAGS)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRCS) user/cli/config_file.c) \
	$(patsubst $(GEN)/%.c,$(FUZZ_BUILD)/obj/gen/%.o,$(PROTO_C))

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz.sh $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: %.c $(PROTO_H) $(SKELS) $(DEPS_STAMP)
	$(call msg,CLANG,$<)
	$(Q)mkdir -p $(dir $@) && $(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/obj/gen/%.o: $(GEN)/%.c $(PROTO_H)
	$(call msg,CLANG,$<)
	$(Q)mkdir -p $(dir $@) && $(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libkpleg-fuzz.a: $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libkpleg-fuzz.a
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libkpleg-fuzz.a \
		$(LDLIBS) -o $@

-include $(shell find $(BUILD)/obj $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
