# Concord's two commands are `make demo` and `make test`; the rest are their building blocks.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: demo test lint format bench vendor deps test-deps browser clean

$(VENV)/.runtime: requirements.txt
	@echo "==> Installing Python dependencies into $(VENV) (the first time takes a few minutes)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt requirements-test-nodeps.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-test-nodeps.txt
	touch $@

deps: $(VENV)/.runtime
test-deps: $(VENV)/.test

# htmx and Chart.js come from the npm registry (package-lock.json) and are copied to static/vendor/,
# each with every file it refers to: collectstatic's manifest storage refuses a missing reference
# (chart.umd.min.js names its source map).
VENDOR_FILES := static/vendor/htmx.min.js static/vendor/chart.umd.min.js static/vendor/chart.umd.min.js.map

node_modules/.concord-installed: package.json package-lock.json
	@echo "==> Fetching htmx and Chart.js from npm"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static/vendor/htmx.min.js: node_modules/.concord-installed
	@mkdir -p $(@D)
	cp node_modules/htmx.org/dist/$(@F) $@

static/vendor/chart.umd.min.js static/vendor/chart.umd.min.js.map: node_modules/.concord-installed
	@mkdir -p $(@D)
	cp node_modules/chart.js/dist/$(@F) $@

vendor: $(VENDOR_FILES)

browser:
	@scripts/ensure-chromium

# Starts Concord with demo data on SQLite at http://127.0.0.1:$(PORT) (safe to run again):
# `make demo PORT=8100` for another port. The demo settings run with DEBUG off.
demo: export DJANGO_SETTINGS_MODULE = config.settings.demo
demo: deps vendor
	@echo "==> Preparing the SQLite database under var/"
	$(PY) manage.py migrate --noinput --verbosity 0
	@echo "==> Loading the demo data"
	$(PY) manage.py demo_data --port $(PORT)
	scripts/serve-demo $(PORT)

# The whole test suite, on one process per core (pytest-xdist; tests that start a Celery worker share
# one). Uses DATABASE_URL / CELERY_BROKER_URL when set (CI: PostgreSQL + Redis).
test: test-deps vendor browser
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# ruff, and the one-way layers of docs/architecture.md (import-linter's contracts in pyproject.toml).
lint: test-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: test-deps
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks print ratios against a baseline measured in the same run; they need PostgreSQL.
bench: test-deps vendor
	scripts/run-benchmarks

clean:
	rm -rf var static/vendor node_modules
