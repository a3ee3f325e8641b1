# The two commands of the README: `make demo` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVE  ?= 1

.PHONY: demo test lint browser clean

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# CPU torch (constraints/cpu.txt) unless this machine has an NVIDIA GPU: never pull CUDA builds onto a CPU machine.
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  $(BIN)/pip install "torch>=2.1" && $(BIN)/pip install -e ".[all]"; \
	else \
	  $(BIN)/pip install -c constraints/cpu.txt torch && $(BIN)/pip install -c constraints/cpu.txt -e ".[all]"; \
	fi
	@# numba's kernels for UMAP and the neighbour search, compiled once into the user cache (README, Speed).
	$(BIN)/python -m latentviz.projection.warmup
	touch $(STAMP)

# Debian's chromium and chromedriver for the browser tests (installed when missing).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

demo: $(STAMP)
	$(BIN)/latentviz demo $(if $(filter 0,$(SERVE)),--no-serve,--serve)

test: $(STAMP) browser
	$(BIN)/python -m pytest

# ruff (lint and format) and mypy, configured in pyproject.toml; CI runs this before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache
