# Keystay: `make run` starts the app, `make test` checks it. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres lint format bench install clean messages

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The stamp files make a second `make` skip installs until pyproject/package.json change.
$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-run

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive the system's Chromium (Debian package), never a downloaded one.
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

install: $(VENV)/.installed-test node_modules/.installed

run: $(VENV)/.installed-run node_modules/.installed
	./scripts/run.sh

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# SQLite by default; set DATABASE_URL to run the same suite on PostgreSQL. pytest-xdist
# runs it in PYTEST_WORKERS processes, each with a database of its own; many tests wait on
# processes, browsers and servers, so one more worker than cores keeps the cores busy.
# Tests marked with the same xdist_group run on one worker, one after another.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: $(VENV)/.installed-test node_modules/.installed /usr/bin/chromium lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

test-postgres:
	DATABASE_URL=$(PG_TEST_URL) $(MAKE) test

# SQLite by default; bench/scale.py runs on PostgreSQL too when DATABASE_URL is set (in a
# test_<name> database it creates and drops). BENCH_SCALE=0.1 for a quick run of it.
BENCH_SCALE ?= 1
# Listings (one calendar feed each, 50 events) of bench/calendar_feeds.py.
BENCH_FEEDS ?= 500
bench: $(VENV)/.installed-test node_modules/.installed
	$(PY) bench/run.py
	$(PY) bench/lifecycle_latency.py
	$(PY) bench/reconcile_locks.py
	$(PY) bench/provisioning.py
	$(PY) bench/scale.py --scale $(BENCH_SCALE)
	$(PY) bench/calendar_feeds.py $(BENCH_FEEDS)

# The guests' languages (locale/): refresh each django.po from the code and templates, then
# compile the .mo files, which are committed so that running Keystay needs no gettext.
# Needs gettext (apt-get install gettext). A new language: `make messages LANG_NEW=it`.
messages: $(VENV)/.installed-test
	$(PY) manage.py makemessages --no-wrap --no-location $(if $(LANG_NEW),-l $(LANG_NEW),--all) \
		-i ".venv/*" -i "node_modules/*" -i "tests/*" -i "fakeseam/*"
	$(PY) manage.py compilemessages -i .venv -i node_modules

clean:
	rm -rf $(VENV) node_modules staticfiles
