# virtual-queue. On a fresh Debian machine with Python 3.11, a JDK, Maven and apt, `make test` and
# `make run` need nothing else: they make the virtualenv, install the package, and start the native
# stack (PostgreSQL, Redis, Kafka; see deploy/README.md) before testing or running.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Touched after each install: `pip install` runs again only when pyproject.toml is newer.
STAMP  := $(VENV)/.installed-from-pyproject
PYTEST_ARGS ?=
# The placeholder secrets are accepted in dev only (core/settings.py): the stack, the tests, the
# benchmark and `make run`'s demo run on this machine. A deployment sets VQ_ENV=prod and real ones.
export VQ_ENV ?= dev

.PHONY: help venv bytecode stack-up stack-down stack-status run test test-tools wrk lint clean-data bench screenshots drill

help:
	@echo "make test         venv + package, lint, stack up, then all of tests/ with pytest"
	@echo "make run          venv + package, stack up, then the app (vq run)"
	@echo "make stack-up     start PostgreSQL, Redis and Kafka (vq stack up)"
	@echo "make stack-down   stop them (vq stack down)"
	@echo "make stack-status which are up (vq stack status)"
	@echo "make lint         ruff (check and format) and mypy, strict"
	@echo "make clean-data   stop the stack and delete its data (keeps the Kafka jars)"
	@echo "make bench        stack up, then the benchmark (bench/README.md; BENCH_QUICK=1: ~2 min)"
	@echo "make drill        stack up, then the backup drill: RPO and RTO measured (20-40 min)"
	@echo "make screenshots  the browser tests' latest screenshots to docs/screenshots/ and the README"

$(BIN)/python:
	@if ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
	  echo "installing $(notdir $(PYTHON))-venv from Debian's packages..."; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $(notdir $(PYTHON))-venv; \
	fi
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	@echo "installing the package and its dev tools into $(VENV)..."
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@ $(NATIVE_STAMP)

# The estimators' hottest modules compiled with mypyc (setup.py; domain/estimation/native.py),
# again when their source changed since (else the source runs, with a warning).
NATIVE_SRC := $(foreach m,projection renewal stats outlook,domain/estimation/$(m).py)
NATIVE_STAMP := $(VENV)/.native-built

$(NATIVE_STAMP): $(NATIVE_SRC) | $(STAMP)
	@echo "compiling the estimators (mypyc)..."
	$(BIN)/python setup.py -q build_ext --inplace
	@touch $@

venv: $(STAMP) $(NATIVE_STAMP)

# Every package's modules compiled to bytecode ahead (again only those changed since): Python reads
# a .pyc even where PYTHONDONTWRITEBYTECODE stops it writing one (this machine sets it), and each
# process started would otherwise compile the ~240 modules it imports from source (~0.2 s of CPU
# each time; a test run starts hundreds of `vq` processes).
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard */__init__.py))

bytecode: venv
	@$(BIN)/python -m compileall -q $(PACKAGES) >/dev/null

stack-up: venv bytecode
	$(BIN)/vq stack up

stack-down:
	@if [ -x $(BIN)/vq ]; then $(BIN)/vq stack down; else echo "no $(VENV): nothing was started"; fi

stack-status: venv
	$(BIN)/vq stack status

# Stock Kafka tools the tests read the topics with, as a consumer in another language would:
# Debian's kcat on the PATH, and kcat built with Avro/Schema-Registry support from the sources in
# deploy/kcat/ (Debian's lacks it), again only when build.sh or those sources are newer.
KCAT_AVRO := .vq/tools/bin/kcat

$(KCAT_AVRO): deploy/kcat/build.sh $(wildcard deploy/kcat/kcat/* deploy/kcat/libserdes/src/*)
	deploy/kcat/build.sh

# A Debian package installed when its command is missing (apt-get update only if the install
# fails without it): $(call apt_install,COMMAND,PACKAGE).
apt_install = command -v $(1) >/dev/null 2>&1 || { echo "installing $(2) from Debian's packages..."; \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(2) \
  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
       apt-get install -y -q --no-install-recommends $(2); }; }

test-tools: $(KCAT_AVRO) wrk
	@$(call apt_install,kcat,kcat)

# wrk (Debian's package): the benchmark's outside load generator (bench/wrk.py), also tested.
wrk:
	@$(call apt_install,wrk,wrk)

# The OpenID Provider the single sign-on tests start (tests/oidc/: oidc-provider from npm),
# installed again only when package-lock.json is newer than what `npm ci` installed.
OIDC_STAMP := tests/oidc/node_modules/.package-lock.json

$(OIDC_STAMP): tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund
	@touch $@

# The browser the page tests drive with Playwright (tests/browser/): Debian's Chromium, installed
# only when missing; Playwright's own browsers are never downloaded.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@$(call apt_install,$(CHROMIUM),chromium)

# axe-core from npm, the accessibility checker the browser tests put into each page, installed
# again only when tests/browser/package-lock.json is newer than what `npm ci` installed.
BROWSER_STAMP := tests/browser/node_modules/.package-lock.json

$(BROWSER_STAMP): tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	@touch $@

# Prometheus and promtool from Debian's packages, installed only when missing: promtool checks and
# unit-tests deploy/prometheus/rules.yml, and a real Prometheus scrapes the product in
# tests/integration/test_prometheus.py. Only the binaries are wanted: while installing, a
# policy-rc.d (unless there is one) keeps the package from starting its service on port 9090, and
# on a systemd host the service it enabled is disabled and stopped.
PROMTOOL := /usr/bin/promtool

$(PROMTOOL):
	@echo "installing prometheus (promtool) from Debian's packages..."
	@made=; if [ ! -e /usr/sbin/policy-rc.d ]; then made=1; \
	  printf '#!/bin/sh\n# from make, during an install\nexit 101\n' >/usr/sbin/policy-rc.d; \
	  chmod 755 /usr/sbin/policy-rc.d; fi; \
	trap '[ -z "$$made" ] || rm -f /usr/sbin/policy-rc.d' EXIT; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q --no-install-recommends prometheus; }; \
	if [ -d /run/systemd/system ]; then systemctl disable --now prometheus.service || true; fi

# Three workers (a test file's tests stay together, the browser's too: tests/scheduling.py), then
# the few tests that stop a server of the shared stack, alone (exit 5: none were selected).
# Measured on 2026-12-06 (/usr/bin/time -v make test, this 2-core box, nothing else running):
# two workers 14:53 for the parallel part with the CPU idle 39 % of the time (vmstat), three
# 12:36 with it idle 12 %. (Three had been slower before: tests that lean on the shared
# PostgreSQL met statement timeouts; and until that day the grouping had silently not worked
# since pytest 9.2, so every worker built every module's fixtures: pytest-xdist#1386.)
# pytest runs with PYTHONDONTWRITEBYTECODE unset (this machine sets it): it then keeps the test
# modules it rewrote for its assertions in __pycache__, and each of the suite's three collections
# takes ~6 s of CPU instead of ~11 (478 modules rewritten from source each time).
TEST_WORKERS ?= 3
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -p no:cacheprovider

test: lint stack-up test-tools $(OIDC_STAMP) $(CHROMIUM) $(BROWSER_STAMP) $(PROMTOOL)
	$(PYTEST) -n $(TEST_WORKERS) --dist loadgroup -m "not serial" $(PYTEST_ARGS)
	$(PYTEST) -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The latest screenshots of the browser tests (in .vq/screenshots/), copied to docs/screenshots/
# and shown in the README's gallery.
screenshots: venv
	$(BIN)/python -m tests.browser.gallery

run: stack-up
	exec $(BIN)/vq run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean-data: venv
	$(BIN)/vq stack down
	$(BIN)/vq stack clean

# Ceilings of PostgreSQL, Kafka and Redis, then the service measured against them, on fresh
# schemas/topics/keys of its own; ~8 minutes (BENCH_QUICK=1: ~2). Results in bench/results/.
bench: stack-up wrk
	$(BIN)/python -m bench

# The disaster-recovery drill (bench/drill.py): backup, lost disk, restore, measured RPO and RTO
# (1,000,000 events) on PostgreSQL clusters of its own; the stack's Redis and Kafka under fresh
# names. Not part of `make test` (20-40 minutes). Results in bench/results/drill-<time>.json.
drill: stack-up
	$(BIN)/python -m bench.drill
