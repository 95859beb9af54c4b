# One entry point for everything a developer or CI does with this repository.
# The targets of each concern (backend, frontend, gitops, terraform, workflows) live in mk/<concern>.mk;
# every concern adds its check group to CHECKS, and `make test` runs them all.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov
# Logs, screenshots and other generated files; git-ignored.
OUT := $(CURDIR)/.out

# Check groups in the order `make test` runs them; each mk/*.mk appends its own.
CHECKS := lint tools

include $(sort $(wildcard mk/*.mk))

.PHONY: help venv test lint fmt run clean check-lint check-tools tools tools-all

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)
	@printf '  \033[36m%-16s\033[0m %s\n' 'check-<group>' 'Run one check group; make test runs them all: $(CHECKS)'

# The dev environment is rebuilt whenever a requirements file changes.
REQUIREMENTS := requirements-dev.txt $(wildcard images/*/requirements.txt)
$(VENV)/.stamp: $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed; set PYTHON=python3.x")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --requirement requirements-dev.txt
	@touch $@

venv: $(VENV)/.stamp ## Create or update the local virtual environment (.venv)

# checkov pins old packaging/python-dateutil, so it gets an environment of its own.
$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --requirement $<
	@touch $@

# The Go tools, built from tools/go/ into a cache outside the clone, once per version: tools/go/README.md.
# Each mk/*.mk adds the modules its check group uses to GO_TOOLS, so `make test` builds only those; the
# live cluster's components (kubernetes, argocd, ...) are built by `make cluster-up` when first needed.
GOTOOLS := $(PY) $(CURDIR)/tools/gotools.py

tools: $(VENV)/.stamp ## Build the Go tools make test uses (GO_TOOLS; first run: minutes; then instant)
	@$(GOTOOLS) build $(sort $(GO_TOOLS)) >/dev/null

tools-all: $(VENV)/.stamp ## Build every module of tools/go, the live cluster's included (first run: hours)
	@$(GOTOOLS) build --all >/dev/null

test: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp tools ## Run every check (one summary line per group)
	@$(PY) tools/run_checks.py --log-dir $(OUT)/checks $(CHECKS)

run: $(VENV)/.stamp ## Run the backend and the frontend locally (Ctrl-C stops both)
	@$(PY) tools/run_local.py

lint: $(VENV)/.stamp check-lint ## yamllint, ruff, shellcheck and hadolint over the whole tree

fmt: $(VENV)/.stamp ## Format the code in place (each mk/*.mk may add its formatter)
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix --quiet .

# Every tracked or new shell script, found by extension or shebang, so a new script cannot escape the check.
SHELL_SCRIPTS = $(shell $(PY) tools/list_files.py --shell)
DOCKERFILES = $(shell $(PY) tools/list_files.py --dockerfiles)

check-lint:
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/shellcheck --external-sources $(SHELL_SCRIPTS)
	$(if $(DOCKERFILES),$(BIN)/hadolint $(DOCKERFILES))

check-tools:
	$(BIN)/pytest -q tests/tools tests/docs

clean: ## Remove environments and generated files
	rm -rf $(VENV) $(CHECKOV_VENV) $(OUT) .pytest_cache .ruff_cache .hypothesis
