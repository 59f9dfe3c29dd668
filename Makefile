# The template repository's own commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pre-commit's hooks run the tools of .venv (requirements/dev.txt pins them).
export PATH := $(abspath $(BIN)):$(PATH)
# Where `make generate` writes the new service, and extra copier options
# (e.g. COPIER_ARGS="--defaults --data project_name=Orders").
DEST ?=
COPIER_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help generate test lint lock bench

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

# The template's own tools, installed hash-checked from the lock file.
$(BIN)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

generate: $(BIN)/.installed ## Generate a service: make generate DEST=../my-service
	@test -n "$(DEST)" || { echo "usage: make generate DEST=../my-service" >&2; exit 2; }
	$(BIN)/copier copy --trust $(COPIER_ARGS) "$(CURDIR)" "$(DEST)"

test: $(BIN)/.installed ## Run the template's test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed ## Run the template's own pre-commit hooks (as CI does)
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

# The lock command generated services have; the version is in .python-version.
LOCK = $(BIN)/python template/tools/lock.py --tool pip-tools

lock: $(BIN)/.installed ## Re-lock requirements/dev.txt and the hooks' tool pins
	$(LOCK) --folder requirements
	$(LOCK) --folder hooks/pins

bench: $(BIN)/.installed ## Run the benchmark suite (bench/run.py; Docker, minutes, an idle machine)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
