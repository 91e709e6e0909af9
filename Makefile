# The two commands of the README. Everything else is a helper for them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test screenshots bench lint typecheck check clean-demo

run: $(STAMP)  ## set up and run the demo at http://127.0.0.1:8000 (PORT to change)
	$(PY) manage.py run_embedded

test: $(STAMP)  ## the whole test suite
	$(PY) -m pytest -n auto --dist loadfile -q

screenshots: $(STAMP)  ## start the demo (with its month of history) and photograph its pages into docs/screenshots/
	$(PY) tests/browser/demo_screenshots.py --out $(CURDIR)/docs/screenshots

bench: $(STAMP)  ## the quick benchmarks, each the median of 5 runs (bench/README.md has the rest)
	$(PY) bench/edge_ingest.py
	$(PY) bench/gateway_cache_auto_cost.py
	$(PY) bench/content_filter.py --split heldout

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

check: lint typecheck test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

clean-demo:  ## forget the demo's data (embedded Postgres and chDB under var/)
	rm -rf var/pgdata var/chdb var/celerybeat-schedule*
