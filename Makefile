# vst: one command each for install, tests, demo and benchmarks. Everything runs in .venv/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast lint demo bench clean help
help:
	@echo "make install   create .venv/ with pinned dependencies"
	@echo "make test      install if needed, then run ruff and the test suite"
	@echo "make test-fast the same without the tests marked slow"
	@echo "make demo      install if needed, train on the bundled sample clip and grade it"
	@echo "make bench     speed benchmarks (prints figures)"

install: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned, so that pip takes the local CPU wheel here and CUDA on GPU boxes
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check vst tests scripts train.py predict.py

test: $(STAMP) lint
	$(PY) -m pytest -q

test-fast: $(STAMP) lint
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP)
	$(PY) scripts/demo.py

bench: $(STAMP)
	$(PY) scripts/bench_train.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
