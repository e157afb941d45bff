# slotguard: the newcomer's two commands are `make demo` and `make test`; both run `setup` first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SG := $(VENV)/bin/slotguard
STAMP := $(VENV)/.installed
MODEL := models/artifacts/default/model.joblib
# the default model is rebuilt reproducibly from these simulated worlds (seed offset:mix)
MODEL_SEED ?= 20260301
MODEL_ACCOUNTS ?= 3000
MODEL_DAYS ?= 10
# one world of each kind of structure: the family's presets, two drawn at random, and a quiet one
MODEL_WORLDS := 0:default 1:hard 2:mobile 3:random 4:random 5:bot-heavy 6:quiet
MODEL_SOURCES := $(wildcard features/*.py models/*.py ingest/contract.py simulator/*.py)

.PHONY: help setup model demo test test-fast test-integration lint bench bench-stream quality clean kafka-jars \
	alert-tools rules dashboards dashboards-png browser-deps

help:
	@echo "make demo    simulate a world, detect scalpers in it, evaluate and show flagged accounts"
	@echo "make test    lint, type-check, fast tests, then integration tests against real services"
	@echo "make bench   speed, memory, storage and console benchmarks (ratios against a baseline in the same run)"
	@echo "make bench-stream  the streaming worker on a real broker: events/s vs a plain consumer and detect; restart"
	@echo "make quality detection quality on unseen worlds of both generators, with a plain baseline beside"
	@echo "make setup   create .venv with slotguard and its dev tools, build the default model"
	@echo "make model   rebuild the default model from the simulator (seed $(MODEL_SEED))"
	@echo "make kafka-jars  resolve the Kafka broker's jars from Maven Central (for scripts/kafka.sh)"
	@echo "make rules   regenerate alerts/rules/*.yml from alerts/rules.py"
	@echo "make dashboards      regenerate dashboards/*.json from the grafana-foundation-sdk code"
	@echo "make dashboards-png  render the dashboards' panels and the firing alert page to docs/img/"

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || scripts/ensure-apt.sh python3-venv
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

setup: $(STAMP) $(MODEL)

$(MODEL): $(STAMP) $(MODEL_SOURCES)
	@set -e; worlds=""; jobs=0; for spec in $(MODEL_WORLDS); do \
	  offset=$${spec%%:*}; mix=$${spec#*:}; dir=var/model-worlds/$$mix-$$offset; \
	  $(SG) simulate --seed $$(( $(MODEL_SEED) + offset )) --accounts $(MODEL_ACCOUNTS) --days $(MODEL_DAYS) \
	    --mix $$mix --out $$dir >/dev/null & worlds="$$worlds $$dir"; jobs=$$((jobs + 1)); \
	  if [ $$jobs -ge 2 ]; then wait -n; jobs=$$((jobs - 1)); fi; done; wait; \
	$(SG) simulate --seed $$(( $(MODEL_SEED) + 100 )) --accounts $(MODEL_ACCOUNTS) --days $(MODEL_DAYS) \
	  --out var/model-worlds/validation >/dev/null; \
	$(SG) train $$worlds --validate var/model-worlds/validation --out models/artifacts/default

model:
	rm -f $(MODEL)
	$(MAKE) $(MODEL)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# promtool and amtool check the rules and Alertmanager's routing in the fast tier
alert-tools:
	scripts/ensure-apt.sh prometheus prometheus-alertmanager

test-fast: setup alert-tools
	$(VENV)/bin/pytest -q -m "not integration" -p no:cacheprovider -n 2 --dist loadfile

test-integration: setup alert-tools browser-deps
	scripts/ensure-apt.sh clickhouse-server clickhouse-client
	scripts/kafka.sh jars
	$(VENV)/bin/pytest -q -m integration

test: lint test-fast test-integration

demo: setup
	scripts/demo.sh

bench: setup
	scripts/ensure-apt.sh clickhouse-server clickhouse-client
	$(PY) -m tests.bench.detect_bench
	$(PY) -m tests.bench.storage_bench
	$(PY) -m tests.bench.metrics_series
	$(PY) -m tests.bench.console_bench

bench-stream: setup kafka-jars
	$(PY) -m tests.bench.stream_bench --profile

quality: setup
	$(PY) -m tests.bench.quality

kafka-jars:
	scripts/kafka.sh jars

rules: $(STAMP)
	$(PY) -m alerts.rules

dashboards: $(STAMP)
	$(PY) -m dashboards

dashboards-png: setup alert-tools
	scripts/ensure-apt.sh chromium
	$(PY) -m dashboards.pictures

# the console's browser test: Debian's Chromium (never a downloaded browser) and playwright-core from npm
browser-deps:
	scripts/ensure-apt.sh chromium
	@command -v node >/dev/null || scripts/ensure-apt.sh nodejs
	@command -v npm >/dev/null || scripts/ensure-apt.sh npm
	@[ -d tests/browser/node_modules/playwright-core ] || \
	  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)

clean:
	-scripts/clickhouse.sh stop
	-scripts/prometheus.sh stop var/stack/prometheus
	-scripts/alertmanager.sh stop var/stack/alertmanager
	rm -rf $(VENV) var models/artifacts .pytest_cache .mypy_cache .ruff_cache tests/browser/node_modules
