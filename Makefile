# day6: every target bootstraps a local virtualenv first, so `make lab` and `make test`
# work on a fresh machine with only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.day6-installed
PYTEST_ARGS ?=

.PHONY: help lab test lint typecheck unit notebooks-check notebooks bench chat serve test-browser \
	test-browser-if-available clean

help:
	@echo "make lab            open JupyterLab on notebooks/ (embedded offline backend, no key needed)"
	@echo "make test           lint, type check, unit tests, nbval on every notebook, browser tests"
	@echo "make notebooks      re-execute every lab and save its outputs (after a change)"
	@echo "make bench          run the benchmarks in benchmarks/ and print their tables"
	@echo "make chat           the resilient agent in your terminal (day6 chat)"
	@echo "make serve          the embedded OpenAI-compatible backend on 127.0.0.1:8006"
	@echo "make test-browser   only the JupyterLab browser tests"

# Reinstall only when the project's metadata changed (idempotent and fast otherwise).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

# Jupyter refuses to start as root without --allow-root (containers often run as root).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

test: $(STAMP) lint typecheck unit notebooks-check
	@$(MAKE) --no-print-directory test-browser-if-available

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks exercises solutions grading
	$(BIN)/ruff format --check src tests benchmarks exercises solutions grading

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

# The labs run with the environment of day6._notebooks.KERNEL_ENV (static widgets, fixed hash
# seed). First the structural check (outputs stored, executed top to bottom, no stderr, jupytext
# pairs in sync), then nbval in strict mode: every stored output is re-computed and compared
# after sanitizing (notebooks/sanitize.cfg); only cells marked NBVAL_IGNORE_OUTPUT are exempt.
NOTEBOOK_ENV := DAY6_STATIC=1 PYTHONHASHSEED=0

notebooks-check: $(STAMP)
	$(NOTEBOOK_ENV) $(BIN)/python -m day6._notebooks check notebooks/*.ipynb
	$(NOTEBOOK_ENV) $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-cell-timeout=60 \
		--nbval-sanitize-with notebooks/sanitize.cfg -p no:randomly notebooks/*.ipynb $(PYTEST_ARGS)

# Re-execute every lab in a fresh kernel and save its outputs and its jupytext pair.
notebooks: $(STAMP)
	$(NOTEBOOK_ENV) $(BIN)/python -m day6._notebooks execute notebooks/*.ipynb

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

chat: $(STAMP)
	$(BIN)/day6 chat

serve: $(STAMP)
	$(BIN)/day6 serve

# JupyterLab in headless Chromium runs every lab (tests/browser); screenshots land in artifacts/browser/
# (DAY6_UPDATE_SCREENSHOTS=1 also refreshes docs/screenshots/). Needs /usr/bin/chromium.
test-browser: $(STAMP)
	$(BIN)/python -m pytest -m browser -p no:randomly tests/browser $(PYTEST_ARGS)

test-browser-if-available:
	@if [ -d tests/browser ]; then \
		if command -v chromium >/dev/null 2>&1; then $(MAKE) --no-print-directory test-browser; \
		elif [ -n "$$CI" ]; then echo "CI: chromium is missing, browser tests cannot run" >&2; exit 1; \
		else echo "NOTE: chromium not found; skipping the JupyterLab browser tests (apt-get install chromium)"; fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
