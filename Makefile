# Two entry points: `make demo` and `make test`. Both set up .venv from nothing first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edgekit-installed

.PHONY: setup demo test bench bench-pruning clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU wheel first: any other torch spec pulls several GB of CUDA packages
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/edgekit demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) -m benchmarks ort

bench-pruning: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) -m benchmarks pruning

clean:
	rm -rf $(VENV) edgekit-demo .pytest_cache
