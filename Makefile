# Two entry points: `make demo` and `make test`. Both set up .venv from nothing first; the demo installs
# only what the demo needs (edgekit and its runtime dependencies), the tests add the dev extras.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BASE   := $(VENV)/.edgekit-base
DEV    := $(VENV)/.edgekit-dev

.PHONY: setup demo test test-fast bench bench-pruning clean

$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU wheel first: any other torch spec pulls several GB of CUDA packages
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e .
	touch $(BASE)

$(DEV): $(BASE)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(DEV)

setup: $(DEV)

demo: $(BASE)
	$(VENV)/bin/edgekit demo

test: $(DEV)
	$(PY) -m pytest

# a quick smoke subset (unit tests without the slow ones), not what CI runs
test-fast: $(DEV)
	$(PY) -m pytest -q -m "not slow" tests/unit

bench: $(DEV)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) -m benchmarks ort

bench-pruning: $(DEV)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) -m benchmarks pruning

clean:
	rm -rf $(VENV) edgekit-demo .pytest_cache
