# The front door. `make help` lists what you can do.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DBT := $(BIN)/dbt
# dbt reads profiles.yml from the project root; the DuckDB file defaults to
# ./recommender.duckdb (override with DUCKDB_PATH).
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
VARS ?=

.PHONY: help install install-spark run build evaluate summary test lint parse docs report export bench serve-demo clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## Create .venv and install the pinned requirements

$(VENV)/.installed-spark: $(VENV)/.installed requirements-spark.txt
	$(BIN)/pip install --quiet -r requirements-spark.txt
	touch $@

install-spark: $(VENV)/.installed-spark ## Add dbt-spark and pyspark to .venv (dbt build --target spark; Java 17)

run: install build summary ## Build the recommendations on the sample data (or VARS='{sales_path: ...}')

build: install ## dbt build into a fresh file, swapped in only when it succeeds (scripts/build.py)
	$(BIN)/python scripts/build.py $(if $(VARS),--vars '$(VARS)')

evaluate: install ## Compare similarity measures on held-out orders, and the threshold sweep (VARS='{...}')
	$(BIN)/python scripts/evaluate.py $(if $(VARS),--vars '$(VARS)')

summary: install ## Print what the last build produced
	$(BIN)/python scripts/summary.py

test: install lint parse build ## Everything CI runs: lint, dbt parse, dbt build, pytest (both engines)
	$(BIN)/python -m pytest

lint: install ## ruff and sqlfluff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models tests macros

parse: install ## dbt parse, failing on any deprecation (the spark target too, once make install-spark ran)
	@for target in dev $$(test -f $(VENV)/.installed-spark && echo spark); do \
	out=$$($(DBT) parse --target $$target --no-partial-parse --show-all-deprecations 2>&1); echo "$$out" | tail -3; \
	if echo "$$out" | grep -qiE 'deprecat|\[WARNING\]|error'; then echo "$$out"; echo "dbt parse --target $$target printed a deprecation or warning"; exit 1; fi; \
	done

docs: install ## Generate the dbt docs site (target/index.html)
	$(DBT) docs generate

report: install ## Write the validation report (HTML) from the last build
	$(BIN)/python scripts/report.py $(REPORT_ARGS)

export: install ## Export the recommendations as JSON (exports/ or RECOMMENDER_EXPORT_DEST)
	$(BIN)/python scripts/export.py $(EXPORT_ARGS)

bench: install ## Benchmark dbt build against the sparse pipeline and the tutorial
	$(BIN)/python scripts/benchmark.py --write BENCHMARKS.md $(BENCH_ARGS)

serve-demo: install ## Build, export to a local S3 server, load into PostgreSQL, query
	$(BIN)/python scripts/serve_demo.py $(if $(PRODUCT),--product '$(PRODUCT)')

clean: ## Remove build outputs (keeps .venv)
	rm -rf target logs dbt_packages exports reports
