# Two commands do all the set-up on a fresh machine:
#   make run   start the standalone server (http://127.0.0.1:8080/) with demo jobs
#   make test  install everything and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
# e.g. make run RUN_ARGS="--port 9000"
RUN_ARGS ?=
STAMP = $(VENV)/.installed

.PHONY: run test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

$(STAMP): $(PY) setup.py
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/zc-asyncui serve --demo $(RUN_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

BENCH_STAMP = $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) setup.py
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/compare.py
	$(PY) bench/throughput.py
	$(PY) bench/latency.py
	$(PY) bench/embedded_zeo.py
	$(PY) bench/embedded_app.py
	$(PY) bench/multiprocess.py
	$(PY) bench/multiprocess.py --postgres --jobs 1000 --skip-recovery
	$(PY) bench/growth.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
