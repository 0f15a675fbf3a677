# atlas_migrate: one C core (shared/), two hosts (pg_ext/, sqlite_ext/).
#
#   make            build the SQLite extension, the core tests and (when the
#                   PostgreSQL 15 server headers are installed) the PG extension
#   make install    install the PostgreSQL extension (PGXS)
#   make test       install what is missing, build, run every test
#   make demo       install what is missing, build, show both hosts at work
#   make bench      benchmarks against the databases' own floors
#   make fuzz       short libFuzzer runs over the parsers
#   make deb        Debian packages (debian/, pg_buildext) into build/deb/
#   make installcheck  pg_regress against the server PGHOST/PGPORT point at

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) $(shell command -v pg_config 2>/dev/null))

BUILD      := build
CORE_SRCS  := $(sort $(wildcard shared/*.c shared/hcl/*.c))
CORE_HDRS  := $(wildcard shared/*.h shared/hcl/*.h)
SQLITE_SRCS := $(sort $(wildcard sqlite_ext/*.c))
TEST_SRCS  := $(sort $(wildcard tests/core/test_*.c))
TEST_SUPPORT := $(filter-out $(TEST_SRCS),$(wildcard tests/core/*.c))
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))

DEP_CFLAGS := $(shell pkg-config --cflags libcurl libcjson 2>/dev/null)
# libcurl is not linked: shared/curl_lazy.c opens it on the first Cloud call
DEP_LIBS   := $(shell pkg-config --libs libcjson libcrypto 2>/dev/null)
# the core tests call libcurl themselves (a client for the stand-in server)
TEST_LIBS  := $(DEP_LIBS) $(shell pkg-config --libs libcurl 2>/dev/null)
WARN       := -Wall -Wextra -Wno-unused-parameter -Wdeclaration-after-statement \
              -Wmissing-prototypes -Werror=vla -Wno-missing-field-initializers
CORE_CFLAGS := -std=c99 -D_GNU_SOURCE -O2 -g -fPIC $(WARN) -Ishared $(DEP_CFLAGS)
SAN_CFLAGS := -std=c99 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=undefined $(WARN) -Ishared $(DEP_CFLAGS)

CORE_OBJS   := $(patsubst shared/%.c,$(BUILD)/core/%.o,$(CORE_SRCS))
SAN_OBJS    := $(patsubst shared/%.c,$(BUILD)/san/%.o,$(CORE_SRCS))
SQLITE_OBJS := $(patsubst sqlite_ext/%.c,$(BUILD)/sqlite/%.o,$(SQLITE_SRCS))
TEST_BINS   := $(patsubst tests/core/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
SAN_BINS    := $(patsubst tests/core/%.c,$(BUILD)/tests-san/%,$(TEST_SRCS))
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
SQLITE_SO   := $(BUILD)/atlas_migrate.so

# ---------------------------------------------------------------- PostgreSQL (PGXS)
ifneq ($(PG_CONFIG),)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
endif
ifneq ($(wildcard $(PGXS)),)
MODULE_big  = atlas_migrate
OBJS        = $(patsubst %.c,%.o,$(CORE_SRCS) $(wildcard pg_ext/*.c))
MODULEDIR   = extension
DATA        = sql/atlas_migrate.control $(wildcard sql/atlas_migrate--*.sql)
PG_CPPFLAGS = -Ishared $(DEP_CFLAGS)
PG_CFLAGS   = -Wno-missing-field-initializers
SHLIB_LINK  = $(DEP_LIBS)
REGRESS     = $(patsubst tests/pg/sql/%.sql,%,$(sort $(wildcard tests/pg/sql/*.sql)))
REGRESS_OPTS = --inputdir=tests/pg --outputdir=$(BUILD)/pg_regress
# make installcheck: the tests' migration directories onto the server first
REGRESS_PREP = installcheck-fixtures
EXTRA_CLEAN = $(BUILD)
include $(PGXS)
HAVE_PG := 1
# PGXS knows no header dependencies: a changed struct must rebuild its users
$(OBJS): $(CORE_HDRS) $(wildcard pg_ext/*.h)
all: hosts
else
all: hosts
clean:
	rm -rf $(BUILD)
endif

.PHONY: hosts sqlite core-tests san-tests test demo bench fuzz deps lint deb
hosts: sqlite core-tests

sqlite: $(SQLITE_SO)
core-tests: $(TEST_BINS)
san-tests: $(SAN_BINS)

$(BUILD)/core/%.o: shared/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: shared/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

$(BUILD)/sqlite/%.o: sqlite_ext/%.c $(CORE_HDRS) $(wildcard sqlite_ext/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(SQLITE_SO): $(CORE_OBJS) $(SQLITE_OBJS)
	$(CC) -shared -o $@ $^ $(DEP_LIBS)

$(BUILD)/tests/%: tests/core/%.c $(TEST_SUPPORT) $(CORE_OBJS) $(wildcard tests/core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -Itests/core -o $@ $< $(TEST_SUPPORT) $(CORE_OBJS) $(TEST_LIBS) -lcmocka

$(BUILD)/tests-san/%: tests/core/%.c $(TEST_SUPPORT) $(SAN_OBJS) $(wildcard tests/core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -Itests/core -o $@ $< $(TEST_SUPPORT) $(SAN_OBJS) $(TEST_LIBS) -lcmocka

$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	clang -std=c99 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Ishared $(DEP_CFLAGS) \
		-o $@ $< $(CORE_SRCS) $(DEP_LIBS)

# PGXS's installcheck against the server PGHOST/PGPORT/PGUSER point at (a
# superuser; `make install` done): the fixtures go to its data directory
.PHONY: installcheck-fixtures
installcheck-fixtures:
	@tests/pg/installcheck-fixtures.sh

# ---------------------------------------------------------------- the README's commands
deps:
	@tests/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory all san-tests
	@tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@examples/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/bench.sh

fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh $(FUZZ_BINS)

# ---------------------------------------------------------------- Debian packages
# postgresql-15-atlas-migrate and libsqlite3-mod-atlas-migrate, built by
# dpkg-buildpackage (debhelper, pg_buildext) from a copy of the source (the
# files git knows, or the tree less build/), so the checkout's own build is
# left alone.
DEB_OUT := $(BUILD)/deb
deb:
	@tests/install-deps.sh dpkg-dev fakeroot debhelper postgresql-server-dev-all
	@rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -co --exclude-standard | while read -r f; do [ -e "$$f" ] && echo "$$f"; done | tar -T - -cf -; \
	else \
		tar --exclude=./$(BUILD) --exclude=./.git -cf - .; \
	fi | tar -xf - -C $(DEB_OUT)/src
	@echo "atlas_migrate: dpkg-buildpackage (log: $(DEB_OUT)/build.log)"
	@cd $(DEB_OUT)/src && dpkg-buildpackage -b -us -uc -j2 >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	@rm -rf $(DEB_OUT)/src
	@ls -1 $(DEB_OUT)/*.deb

# ---------------------------------------------------------------- lint (issue 14)
# No C function over 150 lines; hosts include only the core's public headers
# (mig.h, db.h, engine.h, run.h), never the internal plan.h or cloud.h.
lint:
	@/usr/bin/python3 tests/tools/longfuncs.py --max 150 shared pg_ext sqlite_ext
	@! grep -nE '#include "(plan|cloud)\.h"' pg_ext/*.[ch] sqlite_ext/*.[ch] || \
		{ echo "a host includes an internal core header (shared/plan.h, shared/cloud.h)"; exit 1; }
