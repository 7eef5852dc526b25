# p11dkim - DKIM signing with keys that never leave a PKCS#11 token.
#
#   make            build everything
#   make check      install missing Debian packages, build, run all tests
#   make check SAN=1   the same with AddressSanitizer + UBSan
#   make run        build and run the demo (see README.md)
#   make bench      build and run the benchmarks in bench/
#   make install PREFIX=/usr/local DESTDIR=
#
# GNU make; no configure step.  Objects go to build/ (build-san/ with SAN=1).

PREFIX	?= /usr/local
DESTDIR	?=
SAN	?= 0
WERROR	?= 1

CC	?= cc
PKG_CONFIG ?= pkg-config

BUILD	:= $(if $(filter 1,$(SAN)),build-san,build)

WARN	:= -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
	   -Wstrict-prototypes -Wpointer-arith -Wcast-qual -Wsign-compare \
	   -Wwrite-strings -Wundef -Wvla
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 $(WARN) $(if $(filter 1,$(WERROR)),-Werror) \
	   -D_GNU_SOURCE -fstack-protector-strong -fPIC
CPPFLAGS += -Iinclude -D_FORTIFY_SOURCE=2
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer -O1
LDFLAGS	+= -fsanitize=address,undefined
CPPFLAGS := $(filter-out -D_FORTIFY_SOURCE=2,$(CPPFLAGS))
endif

CRYPTO_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS   := $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)
CMOCKA_LIBS   := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

# --- libraries, bottom layer first -----------------------------------------
UTIL_SRC := util/buf.c
DKIM_SRC := dkim/dkim_err.c dkim/dkim_alg.c dkim/canon_body.c \
	    dkim/canon_header.c dkim/header_section.c dkim/header_select.c \
	    dkim/sig_field.c dkim/sign_params.c dkim/dkim_sign.c

CORE_LIB := $(BUILD)/libp11dkim-core.a
CORE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(UTIL_SRC) $(DKIM_SRC))

# --- tests and benchmarks --------------------------------------------------
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
XSIGN_BIN  := $(BUILD)/tests/xsign
BENCH_SRC  := $(wildcard bench/*.c)
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

PROGRAMS   :=

.PHONY: all check run bench install clean deps tests
all: $(CORE_LIB) $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CRYPTO_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/test_%: tests/unit/test_%.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(CORE_LIB) $(LDFLAGS) \
	    $(CMOCKA_LIBS) $(CRYPTO_LIBS)

$(XSIGN_BIN): tests/xverify/xsign.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(CORE_LIB) $(LDFLAGS) \
	    $(CRYPTO_LIBS)

$(BUILD)/bench/%: bench/%.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(CORE_LIB) $(LDFLAGS) \
	    $(CRYPTO_LIBS)

tests: all $(UNIT_BIN) $(XSIGN_BIN)

deps:
	@scripts/install-deps

check: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/run-all.sh

run: deps all $(XSIGN_BIN)
	@BUILD=$(BUILD) scripts/demo

bench: all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/include/p11dkim $(DESTDIR)$(PREFIX)/lib
	install -m 644 include/p11dkim/*.h $(DESTDIR)$(PREFIX)/include/p11dkim/
	install -m 644 $(CORE_LIB) $(DESTDIR)$(PREFIX)/lib/

clean:
	rm -rf build build-san

-include $(CORE_OBJ:.o=.d)
