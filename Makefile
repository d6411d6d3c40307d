# e-Cert CA services: build, run and test.
#   make          build mod_ecert.so, mod_ocsp.so, mod_perspective.so and ecertctl into build/
#   make run      private MariaDB + SoftHSM token + key ceremony + httpd on 127.0.0.1
#   make stop     stop what `make run` started
#   make test     unit tests (TAP via prove) and the pytest suite against the real stack
#   make check-asan  unit tests under ASan/UBSan
#   make fuzz     run the libFuzzer targets for a bounded time

APXS      ?= apxs
CC        ?= gcc
PYTHON    ?= /usr/bin/python3
RUNDIR    ?= $(CURDIR)/run
B         := build

APR_CFLAGS := $(shell apr-1-config --cflags --cppflags --includes 2>/dev/null) \
              $(shell apu-1-config --includes 2>/dev/null)
APR_LIBS   := $(shell apu-1-config --link-ld 2>/dev/null) $(shell apr-1-config --link-ld 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags p11-kit-1 libidn2 openssl libcurl libpsl jansson 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs p11-kit-1 libidn2 openssl libcurl libpsl jansson 2>/dev/null) -lunbound -llmdb -lgfshare -lkeyutils -lm

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
CFLAGS    ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) $(WARN) -fPIC -std=gnu11 -Icore $(APR_CFLAGS) $(PKG_CFLAGS)

CORE_SRC  := $(sort $(wildcard core/ec_*.c))
CORE_OBJ  := $(patsubst core/%.c,$(B)/core/%.o,$(CORE_SRC))
CORE_LIB  := $(B)/libeccore.a
CORE_HDR  := $(wildcard core/*.h)

ECERT_SRC := $(sort $(wildcard mod_ecert/*.c))
OCSP_SRC  := $(sort $(wildcard mod_ocsp/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(patsubst tests/unit/%.c,$(B)/unit/%,$(UNIT_SRC))

.PHONY: all deps run stop test test-build unit pytest check-asan valgrind fuzz clean bench
all: $(B)/mod_ecert.so $(B)/mod_ocsp.so $(B)/mod_perspective.so $(B)/ecertctl

deps:
	@bash scripts/deps.sh

# Hidden: each module keeps its own copy of the core (httpd loads modules RTLD_GLOBAL, so
# exported core symbols of one module would stand in for the other's).
$(B)/core/%.o: core/%.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# apxs compiles the glue with httpd's flags and links the core archive in. The .so is
# replaced by rename (new inode): a running httpd keeps its mapping of the old file.
# glue/: httpd glue every module shares (the log bridge), compiled into each module's build.
GLUE_SRC  := $(wildcard glue/*.c glue/*.h)

$(B)/mod_%.so: $(CORE_LIB) $(CORE_HDR) $(GLUE_SRC) $(wildcard mod_*/*.c mod_*/*.h)
	@mkdir -p $(B)/apxs-$*
	cp mod_$*/*.c mod_$*/*.h $(B)/apxs-$*/ 2>/dev/null || cp mod_$*/*.c $(B)/apxs-$*/
	cp $(GLUE_SRC) $(B)/apxs-$*/
	cd $(B)/apxs-$* && $(APXS) -c -o mod_$*.la \
	    -Wc,"$(WARN) -std=gnu11 -I$(CURDIR)/core $(PKG_CFLAGS)" \
	    $(notdir $(wildcard mod_$*/*.c glue/*.c)) $(CURDIR)/$(CORE_LIB) $(PKG_LIBS) >build.log 2>&1 \
	    || { cat build.log; exit 1; }
	cp $(B)/apxs-$*/.libs/mod_$*.so $@.tmp && mv -f $@.tmp $@

$(B)/ecertctl: $(CLI_SRC) $(CORE_LIB) $(wildcard cli/*.h)
	$(CC) $(ALL_CFLAGS) -Icli -o $@ $(CLI_SRC) $(CORE_LIB) $(APR_LIBS) $(PKG_LIBS)

$(B)/unit/%: tests/unit/%.c tests/unit/tap.h $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(CORE_LIB) $(APR_LIBS) $(PKG_LIBS)

unit: $(UNIT_BIN)
	prove -v $(UNIT_BIN)

# The pytest suite runs the test build: the same sources with the DCV clock a test can move
# (core/ec_clock.h), which a production build has not.
test-build:
	$(MAKE) B=build-test CFLAGS="-O2 -g -DEC_TEST_CLOCK" all

pytest: test-build
	ECERT_BUILD=$(CURDIR)/build-test $(PYTHON) -m pytest -q -ra tests

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) pytest

# Same unit tests, instrumented.
check-asan: deps
	$(MAKE) B=build-asan CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined" unit-asan

unit-asan: $(UNIT_BIN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 prove -v $(UNIT_BIN)

valgrind: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do valgrind -q --error-exitcode=9 --leak-check=full $$t >/dev/null || exit 1; done; echo "valgrind: clean"

FUZZ_SEC ?= 60
fuzz: deps
	bash tests/fuzz/run.sh $(FUZZ_SEC)

run: deps all
	$(PYTHON) scripts/stack.py start $(RUNDIR)

stop:
	$(PYTHON) scripts/stack.py stop $(RUNDIR)

bench: all
	bash bench/ocsp.sh
	bash bench/issue.sh
	bash bench/pages.sh

clean:
	rm -rf build build-test build-asan build-fuzz
