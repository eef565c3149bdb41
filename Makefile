# Two commands do all the set-up on a fresh machine:
#   make run   start the standalone server on var/Data.fs
#   make test  install everything and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
STAMP = $(VENV)/.installed

.PHONY: run test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

$(STAMP): $(PY) setup.py
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/zc-asyncui run

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/throughput.py
	$(PY) bench/latency.py
	$(PY) bench/embedded_zeo.py
	$(PY) bench/multiprocess.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
