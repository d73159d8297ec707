# ferrocache developer and CI entry points.
#
#   make run    build (release) and run the daemon in the foreground on 127.0.0.1:11211
#               (as root with -u root: like memcached it refuses root without -u)
#   make test   everything CI runs (see below); stops at the first failure
#   make lint   rustfmt check + clippy with warnings as errors
#   make fmt    format the Rust code
#   make clean  remove build output and the test venv
#   make install  build (release) and install binaries, systemd units, the
#               default config and the man page (dist/install.sh); honours
#               PREFIX (default /usr/local), DESTDIR and SYSCONFDIR (/etc)
#
# Test helpers:
#   make oracle            memccapable + client suite against /usr/bin/memcached
#                          (checks the tests themselves; needs no Rust build)
#   make memcached-t       memcached 1.6.18's own t/*.t suite against the ferrocache binary
#                          (tests/memcached-t/run.sh; MEMCACHED_T_ARGS names files),
#                          then lru-crawler.t, watcher.t, metaget.t, binary.t, stats.t,
#                          item_size_max.t and chunked-items.t of memcached 1.6.38 (Debian 13's)
#   make memccapable       memccapable (ascii and binary) against the ferrocache binary
#   make test-clients      the Python client suite against the ferrocache binary
#
# FERROCACHE_BIN overrides the server under test for memccapable/test-clients.
#
#   make bench  ferrocache vs Debian's memcached, side by side (about 30 min):
#               writes docs/benchmarks.{md,png,json}; BENCH_ARGS go to
#               benches/run.py (e.g. BENCH_ARGS="--only text_p16 --rounds 1")
#
#   make soak   SOAK_SECONDS (default 600) of mixed pipelined load with evictions
#               and expirations; RSS every 10 s; fails on errors or RSS growth
#   make fuzz   each cargo-fuzz target under fuzz/ (text, meta and binary parsers, a
#               whole connection) for FUZZ_SECONDS (default 300),
#               then the long reference-model run (FERROCACHE_MODEL_CASES, 20000)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
# The test steps must run in order, even under `make -j`.
.NOTPARALLEL:

CARGO   ?= cargo
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
PYTEST  := $(PYTHON) -m pytest
BIN     := target/release/ferrocache
ORACLE  ?= /usr/bin/memcached

export CARGO_TERM_COLOR ?= never

.PHONY: run test deps build cargo-test memcached-t memccapable test-clients oracle lint fmt clean bench install soak fuzz

PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR    ?=

run:
	$(CARGO) build --release
	exec $(BIN) $(if $(filter 0,$(shell id -u)),-u root)

# CI: bash .ci/run -> make test. Each step must pass before the next runs.
test: deps build cargo-test memcached-t memccapable test-clients

deps:
	.ci/install-test-deps.sh

build:
	$(CARGO) build --release --bins

cargo-test:
	$(CARGO) test --release

# memcached's own test suite, with its harness; see tests/memcached-t/run.sh.
# Then the two files of memcached 1.6.38 (Debian 13) that issue #16 names,
# its metaget.t (the meta flags added since 1.6.18, `ms ... s` among
# them), and the files whose flags changed meaning since 1.6.18
# (`slab_chunk_max` in kilobytes: binary.t, stats.t, item_size_max.t,
# chunked-items.t), with their own tables in tests/memcached-t/1.6.38/.
MEMCACHED_T_1638 ?= lru-crawler.t watcher.t metaget.t binary.t stats.t item_size_max.t chunked-items.t
memcached-t: build deps
	tests/memcached-t/run.sh $(MEMCACHED_T_ARGS)
	MEMCACHED_T_VERSION=1.6.38 tests/memcached-t/run.sh $(MEMCACHED_T_1638)

memccapable: build deps
	tests/memccapable.sh ascii
	tests/memccapable.sh binary

test-clients: build deps
	$(PYTEST) tests/clients -q

oracle: deps
	FERROCACHE_BIN=$(ORACLE) tests/memccapable.sh ascii
	FERROCACHE_BIN=$(ORACLE) tests/memccapable.sh binary
	FERROCACHE_BIN=$(ORACLE) $(PYTEST) tests/clients -q

bench:
	benches/bench.sh $(BENCH_ARGS)

install: build
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SYSCONFDIR="$(SYSCONFDIR)" dist/install.sh

soak: build
	tests/soak.sh

# cargo-fuzz needs nightly -Z flags; RUSTC_BOOTSTRAP=1 unlocks them on stable.
# No sanitizer (-s none): the crate has no unsafe code; the targets check invariants.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := text meta binary conn
FERROCACHE_MODEL_CASES ?= 20000
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz-corpus/$$t; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s none --fuzz-dir fuzz $$t target/fuzz-corpus/$$t fuzz/corpus/$$t \
			-- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1; \
	done
	FERROCACHE_MODEL_CASES=$(FERROCACHE_MODEL_CASES) $(CARGO) test --release --test model

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV)
	find tests -name __pycache__ -type d -prune -exec rm -rf {} +
