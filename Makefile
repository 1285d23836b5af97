# meshproof: one entry point for set-up, checks, tests, the demo and the benchmark.
# `make test` is what CI runs (through .ci/run).

VENV   := .venv
PY     := $(VENV)/bin/python
SETUP  := .ci/setup.sh

# Lint and type findings fail `check` (and so `test` and CI). CHECK_STRICT=0 prints them
# all and carries on to pytest, for a local run in the middle of a change.
CHECK_STRICT ?= 1

# Playwright drives Debian's /usr/bin/chromium; it must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: all setup check lint test demo bench soak clean

all: test

setup:
	bash $(SETUP)

# Lint and type checks: every one runs, whatever the one before it found.
check: setup
	@failed=""; \
	echo "== ruff check"; $(PY) -m ruff check . || failed="$$failed ruff-check"; \
	echo "== ruff format --check"; $(PY) -m ruff format --check . || failed="$$failed ruff-format"; \
	echo "== mypy"; $(PY) -m mypy || failed="$$failed mypy"; \
	if [ -z "$$failed" ]; then echo "== check: all clean"; exit 0; fi; \
	echo "== check: FAILED:$$failed"; \
	if [ "$(CHECK_STRICT)" = 1 ]; then exit 1; fi; \
	echo "== check: not fatal (CHECK_STRICT=0)"

lint: check

test: setup check
	$(PY) -m pytest tests --durations=40

demo: setup
	$(VENV)/bin/meshproof demo

bench: setup
	$(PY) -m harness.bench

# An hour of the shop at 200 RPS: sidecar RSS, open fds and the harness' memory every 10
# minutes, and a verdict on growth. A benchmark, never part of `test` or CI.
# SOAK_ARGS="--duration 3m --every 1m" checks it in minutes.
soak: setup
	$(PY) -m harness.bench.soak $(SOAK_ARGS)

# Removes what set-up and the tools produced; leaves Debian packages and run reports alone.
clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
