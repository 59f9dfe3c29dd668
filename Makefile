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
.PHONY: help generate test lint lock upgrade bench

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

# The swarm tests run after the others, alone on the Docker engine (pyproject.toml says
# why). Exit status 5 is pytest's "no test selected": PYTEST_ARGS may pick one part only.
test: $(BIN)/.installed ## Run the template's test suite
	$(BIN)/python -m pytest -m "not swarm" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/python -m pytest -m swarm $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(BIN)/.installed ## Run the template's own pre-commit hooks (as CI does)
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

# The lock command generated services have; the version is in .python-version.
LOCK = $(BIN)/python template/tools/lock.py --tool pip-tools

lock: $(BIN)/.installed ## Re-lock dev.txt, the hooks' tool pins and the reference locks
	$(LOCK) --folder requirements
	$(LOCK) --folder hooks/pins
	$(BIN)/python reference/refresh.py

# New services start on the reference locks' versions; this moves them to the newest,
# for the test suite to try (the scheduled workflow, reference-locks.yml, runs it).
upgrade: $(BIN)/.installed ## Move the reference locks to the newest versions allowed
	$(BIN)/python reference/refresh.py --upgrade

bench: $(BIN)/.installed ## Run the benchmark suite (bench/run.py; Docker, minutes, an idle machine)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
