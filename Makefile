# Lifeline: `make demo` runs the main job on embedded defaults; `make test` runs every test tier.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# pytest-xdist: the integration tests mostly wait (workers, broker, PostgreSQL), so 4 processes
# overlap them even on 2 cores; one test at a time per process, tests marked slow first.
# `make test XDIST=` runs serially.
XDIST ?= -n 4 --dist load --maxschedchunk 1

.PHONY: install demo test test-unit test-agent test-integration lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(PY) -m streams.local.demo

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

test: install lint
	$(PY) -m pytest -q $(XDIST)

test-unit: install
	$(PY) -m pytest -q -m unit

test-agent: install
	$(PY) -m pytest -q -m agent tests/agent

test-integration: install
	$(PY) -m pytest -q $(XDIST) -m integration tests/integration

bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.throughput
	$(PY) -m bench.tick
	$(PY) -m bench.step_cost

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis
