# Two commands on a fresh machine: `make run` and `make test`.
# Every target creates .venv and installs the project into it first.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-quick soak venv clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/live-monitor $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m bench --quick $(BENCH_ARGS)

soak: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m soak -p no:cacheprovider -o addopts='' --timeout=3600 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
