# The two commands: `make run` serves the dashboard, `make test` runs every check.
# Both install whatever tool is missing first (from crates.io, npm and Debian only), so they work
# on a fresh machine; once installed, that step is quiet and takes a second or two.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ADDR ?= 127.0.0.1:8000

# wasm-opt comes from end2end's npm packages (binaryen 132); it must come first on PATH, before
# any older system copy. cargo-installed tools live in $CARGO_HOME/bin (~/.cargo/bin).
CARGO_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(CARGO_BIN):$(PATH)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: help run test bench tools build

help:
	@echo "make run    build in release mode and serve on http://$(ADDR)"
	@echo "make test   formatting, lints, cargo tests, no_std builds and the browser suite"
	@echo "make bench  the benchmarks of BENCHMARKS.md (needs oha: cargo install oha --locked)"

tools:
	@.ci/tools.sh

build: tools
	@.ci/build.sh

run: build
	./target/release/marketwarden serve --addr $(ADDR) --site-root target/site

test: tools
	@.ci/tools.sh --browser
	@.ci/test.sh

# The figures of BENCHMARKS.md that a command reproduces.
bench: tools
	cargo bench -p marketwarden-core --bench phase
	cargo bench -p marketwarden-server --bench frames
	cargo bench -p marketwarden-server --bench health
	server/benches/health_load.sh 10s
	server/benches/memory.sh 15
	server/benches/sse_fanout.sh 2000
	server/benches/load_with_feed.sh 60
	server/benches/machines_cost.sh 120 3
	server/benches/hygiene.sh
	MARKETWARDEN_MONTH_DAYS=30 cargo test -p marketwarden-server --release --test month -- --nocapture
