# Every target sets up the virtual environment first when it is missing or stale.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# What the browser tests need beyond .venv: Debian's Chromium and the npm packages (axe-core).
BROWSER_STAMP := node_modules/.browser-deps

.PHONY: setup demo run-daily test lint bench bench-scale clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Demo data for four organizations over four weeks, every model built and tested, the reports
# backfilled, then the API (with the scheduler) on http://127.0.0.1:8000 (docs at /docs).
demo: setup
	$(PY) -m service demo-data --orgs 4 --days 63 --calls-per-day 400 --seed 7
	$(PY) -m service dbt build
	$(PY) -m service backfill --last-days 28
	$(PY) -m service serve --host 127.0.0.1 --port 8000

run-daily: setup
	$(PY) -m service run-daily

lint: setup
	$(VENV)/bin/ruff check service reports_store demo_data tests bench
	$(VENV)/bin/ruff format --check service reports_store demo_data tests bench

$(BROWSER_STAMP): package.json package-lock.json scripts/install-browser-deps.sh
	bash scripts/install-browser-deps.sh
	touch $(BROWSER_STAMP)

# The whole suite: lint, then every test (real chDB, real dbt runs, real HTTP, a real browser), in two
# processes (pytest-xdist; each has its own embedded warehouse, see tests/conftest.py), a test file
# per process at a time so that module fixtures are built once.
test: setup $(BROWSER_STAMP) lint
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

# dbt's adapter conformance suite (dbt-tests-adapter) on the embedded chdb target: every applicable
# case (`make test` runs the fast subset). Writes bench/results/conformance.json, passed, failed,
# skipped (with the reason) per module. Run it after bumping chDB, clickhouse-connect or dbt.
.PHONY: conformance
conformance: setup
	CONFORMANCE=full CONFORMANCE_REPORT=$(CURDIR)/bench/results/conformance.json $(VENV)/bin/pytest -q tests/conformance

clean:
	rm -rf .warehouse reports.db dbt_project/target dbt_project/logs

# Benchmarks at BENCH_CALLS calls (default 5,000,000): writes bench/results/latest.json,
# bench/results/latency.png and BENCHMARKS.md. About 11 minutes at the default scale.
bench: setup
	$(PY) -m bench

# The full build as history grows (bench/scale.py): demo data at BENCH_SCALE_POINTS calls (default
# 1,000,000,5,000,000,20,000,000) at a fixed daily rate, the sliced full build's seconds and peak RSS, an
# incremental day and one report per point. Writes bench/results/scale.json, bench/results/scale.png and
# the scale section of BENCHMARKS.md. About 45 minutes with the 20 M point, 8 without it.
bench-scale: setup
	$(PY) -m bench scale
