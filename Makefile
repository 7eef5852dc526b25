# p11dkim - DKIM signing with keys that never leave a PKCS#11 token.
#
#   make            build everything
#   make check      install missing Debian packages, build, run all tests
#   make check SAN=1   the same with AddressSanitizer + UBSan
#   make check-tokens  only the token matrix (SoftHSM2, openCryptoki,
#                   a software TPM, NSS softoken; tests/tokens/)
#   make run        build and run the demo (see README.md)
#   make bench      build and run the benchmarks in bench/
#   make fuzz       run every fuzz target for FUZZ_SECONDS (default 30) each
#   make install PREFIX=/usr/local DESTDIR=
#   make check-package   build the Debian packages, install them in a
#                   throw-away root and run the production steps (root)
#
# GNU make; no configure step.  Objects go to build/ (build-san/ with SAN=1).

# The version is debian/changelog's, defined there only: the programs'
# --version and the pkg-config file carry it.
VERSION	:= $(shell awk 'NR == 1 { gsub(/[()]/, "", $$2); print $$2 }' \
	   debian/changelog)
ifeq ($(VERSION),)
$(error no version in the first line of debian/changelog)
endif
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
P11_CFLAGS    := $(shell $(PKG_CONFIG) --cflags p11-kit-1 2>/dev/null || echo -I/usr/include/p11-kit-1)
P11_LIBS      := $(shell $(PKG_CONFIG) --libs libp11 2>/dev/null || echo -lp11) -ldl -pthread
CONFUSE_LIBS  := $(shell $(PKG_CONFIG) --libs libconfuse 2>/dev/null || echo -lconfuse)
SYSTEMD_LIBS  := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null || echo -lsystemd)
SECCOMP_LIBS  := $(shell $(PKG_CONFIG) --libs libseccomp 2>/dev/null || echo -lseccomp)
ZLIB_LIBS     := $(shell $(PKG_CONFIG) --libs zlib 2>/dev/null || echo -lz)

# --- libraries, bottom layer first -----------------------------------------
UTIL_SRC := util/buf.c util/clock.c util/strmap.c util/atomic_file.c util/quota.c \
	    util/trail_record.c
DKIM_SRC := dkim/dkim_err.c dkim/dkim_alg.c dkim/canon_body.c \
	    dkim/canon_header.c dkim/header_section.c dkim/header_select.c \
	    dkim/sig_field.c dkim/sign_params.c dkim/dkim_sign.c dkim/addr.c

PKCS11_SRC := pkcs11/p11_err.c pkcs11/p11_module.c pkcs11/slot_index.c pkcs11/pin.c \
	    pkcs11/token.c pkcs11/p11_key.c pkcs11/keygen.c pkcs11/key_audit.c \
	    pkcs11/token_admin.c pkcs11/token_store.c pkcs11/preflight.c \
	    pkcs11/token_caps.c pkcs11/keygen_search.c
CONF_SRC := conf/conf.c conf/conf_cache.c conf/conf_include.c conf/conf_values.c conf/conf_daemon.c conf/conf_opts.c conf/rotation_state.c \
	    conf/hosts.c
PROV_SRC := $(filter-out provisioning/main.c,$(wildcard provisioning/*.c))
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_SRC := client/client.c

CORE_LIB  := $(BUILD)/libp11dkim-core.a
CORE_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(UTIL_SRC) $(DKIM_SRC))
TOKEN_LIB := $(BUILD)/libp11dkim-token.a
TOKEN_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(PKCS11_SRC))
CONF_LIB  := $(BUILD)/libp11dkim-conf.a
CONF_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(CONF_SRC))
PROV_LIB  := $(BUILD)/libp11dkim-prov.a
PROV_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(PROV_SRC))
DAEMON_LIB := $(BUILD)/libp11dkim-daemon.a
DAEMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(DAEMON_SRC))
CLIENT_LIB := $(BUILD)/libp11dkimclient.a
CLIENT_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(CLIENT_SRC))
# The shared client library: soname libp11dkimclient.so.1; it exports the
# p11dkim_client_* functions of include/p11dkim/client.h and nothing else.
CLIENT_SO     := libp11dkimclient.so
CLIENT_SONAME := $(CLIENT_SO).1
CLIENT_SOLIB  := $(BUILD)/$(CLIENT_SONAME).0.0
CLIENT_MAP    := client/libp11dkimclient.map
ALL_LIBS  := $(DAEMON_LIB) $(PROV_LIB) $(CONF_LIB) $(TOKEN_LIB) $(CORE_LIB) \
	     $(CLIENT_LIB)
# libsystemd: sd_notify, the readiness of a Type=notify unit (daemon/parent.c);
# libseccomp: the children's system call filters (daemon/sandbox.c);
# zlib: p11dkim-keys trail reads rotated, compressed trail files.
ALL_LDLIBS := $(P11_LIBS) $(CONFUSE_LIBS) $(CRYPTO_LIBS) -lresolv -lmilter \
	      $(SYSTEMD_LIBS) $(SECCOMP_LIBS) $(ZLIB_LIBS)

# --- tests and benchmarks --------------------------------------------------
# The unit tests of dkim/ and pkcs11/ with every allocation failing in turn
# (tests/alloc/run.sh): built with SAN=1 only, LeakSanitizer finds leaks.
ALLOC_TESTS := addr canon_body canon_header dkim_sign header_section \
	       header_select sig_field sign_params pin
ALLOC_BIN  := $(if $(filter 1,$(SAN)),$(patsubst %,$(BUILD)/alloc/test_%,$(ALLOC_TESTS)))
ALLOC_LIBS := $(BUILD)/alloc/libp11dkim-token.a $(BUILD)/alloc/libp11dkim-core.a

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
XSIGN_BIN  := $(BUILD)/tests/xsign
SYSINJECT_BIN := $(BUILD)/tests/sysinject
BENCH_SRC  := $(filter-out bench/bench_util.c,$(wildcard bench/*.c))
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

KEYS_BIN   := $(BUILD)/p11dkim-keys
DAEMON_BIN := $(BUILD)/p11dkimd
SIGN_BIN   := $(BUILD)/p11dkim-sign
CTL_BIN    := $(BUILD)/p11dkim-ctl
PROGRAMS   := $(KEYS_BIN) $(DAEMON_BIN) $(SIGN_BIN) $(CTL_BIN)
INTEG_SRC  := $(wildcard tests/integration/*.c)
INTEG_BIN  := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(INTEG_SRC))
# The fault-injection PKCS#11 module and its test driver
# (tests/p11fault/README.md).  Built with the build's flags: under SAN=1
# the module is sanitized and only sanitized programs load it as is.
P11FAULT_SRC := $(filter-out tests/p11fault/p11fault_drv.c,\
		$(wildcard tests/p11fault/*.c))
P11FAULT_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(P11FAULT_SRC)) \
		$(BUILD)/pkcs11/p11_err.o $(BUILD)/util/clock.o
P11FAULT_SO  := $(BUILD)/tests/libp11fault.so
P11FAULT_DRV := $(BUILD)/tests/p11fault_drv

# p11dkim-keys with its fault-injection points live (P11DKIM_TEST_FAULT):
# for the ceremony atomicity tests only, never installed.
KEYS_FAULT_BIN := $(BUILD)/tests/p11dkim-keys-faults

.PHONY: all check check-package check-tokens run bench fuzz install clean deps tests
all: $(ALL_LIBS) $(CLIENT_SOLIB) $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CRYPTO_CFLAGS) $(P11_CFLAGS) $(CFLAGS) -MMD -MP \
	    -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
$(TOKEN_LIB): $(TOKEN_OBJ)
$(CONF_LIB): $(CONF_OBJ)
$(PROV_LIB): $(PROV_OBJ)
$(DAEMON_LIB): $(DAEMON_OBJ)
$(CLIENT_LIB): $(CLIENT_OBJ)
$(ALL_LIBS):
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CLIENT_SOLIB): $(CLIENT_OBJ) $(CLIENT_MAP)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(CLIENT_SONAME) \
	    -Wl,--version-script=$(CLIENT_MAP) -o $@ $(CLIENT_OBJ) $(LDFLAGS)
	ln -sf $(notdir $@) $(BUILD)/$(CLIENT_SONAME)
	ln -sf $(CLIENT_SONAME) $(BUILD)/$(CLIENT_SO)

# The programs' main files print "NAME VERSION" for --version.
MAIN_OBJ := $(BUILD)/provisioning/main.o $(BUILD)/daemon/main.o \
	    $(BUILD)/client/p11dkim_sign.o $(BUILD)/ctl/p11dkim_ctl.o
$(MAIN_OBJ) $(KEYS_FAULT_BIN): CPPFLAGS += -DP11DKIM_VERSION='"$(VERSION)"'
$(MAIN_OBJ) $(KEYS_FAULT_BIN): debian/changelog

$(KEYS_BIN): $(BUILD)/provisioning/main.o $(ALL_LIBS)
	$(CC) $(CFLAGS) -o $@ $< $(ALL_LIBS) $(LDFLAGS) $(ALL_LDLIBS)

$(DAEMON_BIN): $(BUILD)/daemon/main.o $(ALL_LIBS)
	$(CC) $(CFLAGS) -o $@ $< $(ALL_LIBS) $(LDFLAGS) $(ALL_LDLIBS)

# p11dkim-ctl reads the configuration (libconfuse) and asks the daemon
# through the client library.
$(CTL_BIN): $(BUILD)/ctl/p11dkim_ctl.o $(ALL_LIBS)
	$(CC) $(CFLAGS) -o $@ $< $(ALL_LIBS) $(LDFLAGS) $(ALL_LDLIBS)

# The client needs libc only; p11dkim-sign carries it (static), mailers
# link the shared library (pkg-config libp11dkimclient).
$(SIGN_BIN): $(BUILD)/client/p11dkim_sign.o $(CLIENT_LIB)
	$(CC) $(CFLAGS) -o $@ $< $(CLIENT_LIB) $(LDFLAGS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(P11_CFLAGS) $(CFLAGS) -o $@ $< $(ALL_LIBS) \
	    $(LDFLAGS) $(CMOCKA_LIBS) $(ALL_LDLIBS)

$(BUILD)/tests/%: tests/integration/%.c $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(P11_CFLAGS) $(CFLAGS) -o $@ $< $(ALL_LIBS) \
	    $(LDFLAGS) $(CMOCKA_LIBS) $(ALL_LDLIBS)

$(P11FAULT_SO): $(P11FAULT_OBJ) tests/p11fault/p11fault.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -Wl,--version-script=tests/p11fault/p11fault.map \
	    -o $@ $(P11FAULT_OBJ) $(LDFLAGS) -ldl -pthread

$(P11FAULT_DRV): tests/p11fault/p11fault_drv.c $(BUILD)/pkcs11/p11_err.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(P11_CFLAGS) $(CRYPTO_CFLAGS) $(CFLAGS) -o $@ $< \
	    $(BUILD)/pkcs11/p11_err.o $(LDFLAGS) $(CRYPTO_LIBS) -ldl -pthread

$(KEYS_FAULT_BIN): provisioning/main.c provisioning/keys.h $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DP11DKIM_TEST_FAULTS $(P11_CFLAGS) $(CFLAGS) -o $@ \
	    $< $(ALL_LIBS) $(LDFLAGS) $(ALL_LDLIBS)

$(XSIGN_BIN): tests/xverify/xsign.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(CORE_LIB) $(LDFLAGS) \
	    $(CRYPTO_LIBS)

# Our libraries' allocation calls renamed to failalloc.c's (tests/alloc/syms).
$(BUILD)/alloc/%.a: $(BUILD)/%.a tests/alloc/syms
	@mkdir -p $(dir $@)
	objcopy --redefine-syms=tests/alloc/syms $< $@

$(BUILD)/alloc/test_%: tests/unit/test_%.c tests/alloc/failalloc.c $(ALLOC_LIBS)
	$(CC) $(CPPFLAGS) $(P11_CFLAGS) $(CFLAGS) -o $@ $< \
	    tests/alloc/failalloc.c $(ALLOC_LIBS) $(LDLIBS) \
	    -Wl,--wrap=dkim_err_set,--wrap=p11_err_set $(LDFLAGS) \
	    $(CMOCKA_LIBS) $(ALL_LDLIBS)

$(SYSINJECT_BIN): tests/daemon/sysinject.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) $(SECCOMP_LIBS)

$(BUILD)/bench/%: bench/%.c bench/bench_util.c bench/bench_util.h $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(P11_CFLAGS) $(CFLAGS) -o $@ $< bench/bench_util.c \
	    $(ALL_LIBS) $(LDFLAGS) $(ALL_LDLIBS)

# tests/daemon/tenants_test.py builds its many-token fixture with
# bench/tenants_build.
TENANTS_BUILD := $(BUILD)/bench/tenants_build

tests: all $(UNIT_BIN) $(XSIGN_BIN) $(INTEG_BIN) $(P11FAULT_SO) $(P11FAULT_DRV) \
	$(KEYS_FAULT_BIN) $(TENANTS_BUILD) $(SYSINJECT_BIN) $(ALLOC_BIN)

deps:
	@scripts/install-deps

check: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/run-all.sh

check-tokens: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/tokens/run.sh

run: deps all
	@BUILD=$(BUILD) scripts/demo

# Every fuzz target for FUZZ_SECONDS (default 30) each; see fuzz/README.md.
fuzz: deps
	$(MAKE) -C fuzz run

# Each prints its results next to a baseline measured in the same run.
bench: all $(BENCH_BIN)
	@scripts/install-deps --bench
	@echo "== body canonicalization + SHA-256 vs raw SHA-256"
	@$(BUILD)/bench/canon_bench
	@echo "== p11dkimd vs the token's own ceiling"
	@BUILD=$(BUILD) bench/daemon_bench.sh
	@echo "== the signing trail and the quotas, on against off"
	@BUILD=$(BUILD) bench/trail_bench.sh
	@echo "== the milter front vs OpenDKIM"
	@BUILD=$(BUILD) bench/milter_compare.sh
	@echo "== p11dkimd on the four PKCS#11 implementations vs each token alone"
	@BUILD=$(BUILD) bench/tokens.sh

BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
LIBDIR	?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/p11dkim
# systemd reads units, sysusers.d and tmpfiles.d under /usr/local/lib too.
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
# logrotate reads /etc/logrotate.d only.
LOGROTATEDIR ?= /etc/logrotate.d

# The programs, the public client API (client.h, the shared library and
# its links, the pkg-config file), the systemd unit with this SBINDIR, the
# users (sysusers.d) and folders (tmpfiles.d), the trail's logrotate
# file, man pages, docs, examples.
# The internal headers and static libraries stay in the build tree.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/p11dkim $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(DOCDIR)/examples \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(LOGROTATEDIR)
	install -m 755 $(KEYS_BIN) $(SIGN_BIN) $(DESTDIR)$(BINDIR)/
	install -m 755 $(DAEMON_BIN) $(CTL_BIN) $(DESTDIR)$(SBINDIR)/
	install -m 644 include/p11dkim/client.h $(DESTDIR)$(INCLUDEDIR)/p11dkim/
	install -m 644 $(CLIENT_SOLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(CLIENT_SOLIB)) $(DESTDIR)$(LIBDIR)/$(CLIENT_SONAME)
	ln -sf $(CLIENT_SONAME) $(DESTDIR)$(LIBDIR)/$(CLIENT_SO)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    client/libp11dkimclient.pc.in \
	    >$(DESTDIR)$(PKGCONFIGDIR)/libp11dkimclient.pc
	sed 's|/usr/local/sbin/p11dkimd|$(SBINDIR)/p11dkimd|' \
	    examples/p11dkimd.service >$(DESTDIR)$(UNITDIR)/p11dkimd.service
	sed 's|/usr/local/bin/p11dkim-keys|$(BINDIR)/p11dkim-keys|' \
	    examples/p11dkim-dns-watch.service \
	    >$(DESTDIR)$(UNITDIR)/p11dkim-dns-watch.service
	install -m 644 examples/p11dkim-dns-watch.timer $(DESTDIR)$(UNITDIR)/
	install -m 644 examples/p11dkim.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/p11dkim.conf
	install -m 644 examples/p11dkim.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/p11dkim.conf
	install -m 644 examples/p11dkim.logrotate \
	    $(DESTDIR)$(LOGROTATEDIR)/p11dkim
	install -m 644 docs/*.md README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 examples/* $(DESTDIR)$(DOCDIR)/examples/
	for m in $(wildcard man/*.[158]); do \
	    install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/ || exit 1; \
	done

# Not part of `make check`: it builds the packages (a few minutes) and
# needs root for the throw-away root it installs them in (.ci/run runs it).
check-package:
	@scripts/install-deps --package
	@tests/package/package_test.sh

clean:
	rm -rf build build-san

-include $(CORE_OBJ:.o=.d) $(TOKEN_OBJ:.o=.d) $(CONF_OBJ:.o=.d) \
	$(PROV_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) $(BUILD)/provisioning/main.d \
	$(BUILD)/daemon/main.d $(CLIENT_OBJ:.o=.d) $(BUILD)/client/p11dkim_sign.d \
	$(BUILD)/ctl/p11dkim_ctl.d \
	$(P11FAULT_OBJ:.o=.d)
