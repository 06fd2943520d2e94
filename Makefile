# Two commands on a fresh machine: `make run` and `make test`.
# Every target creates .venv and installs the project into it first.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-quick soak venv clean check-qt-libs install-desktop

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# Qt's xcb platform needs system libraries PyQt6 does not ship: install them (root or
# passwordless sudo) or stop with the one command to run, before any window starts.
check-qt-libs: $(STAMP)
	@$(PY) -m ui_process.window.qt_libs --install

run: check-qt-libs
	$(VENV)/bin/live-monitor $(ARGS)

# The menu entry and icon for desktop launchers (GNOME, KDE, ...): ~/.local/share/applications.
APPS_DIR  ?= $(HOME)/.local/share/applications
ICONS_DIR ?= $(HOME)/.local/share/icons/hicolor/scalable/apps
install-desktop: $(STAMP)
	@mkdir -p $(APPS_DIR) $(ICONS_DIR)
	@cp ui_process/window/assets/live-monitor.svg $(ICONS_DIR)/live-monitor.svg
	@sed -e 's|@EXEC@|$(abspath $(VENV))/bin/live-monitor|' -e 's|@ICON@|$(ICONS_DIR)/live-monitor.svg|' \
		ui_process/window/assets/live-monitor.desktop.in > $(APPS_DIR)/live-monitor.desktop
	@chmod 644 $(APPS_DIR)/live-monitor.desktop
	@-command -v update-desktop-database >/dev/null && update-desktop-database $(APPS_DIR) 2>/dev/null || true
	@echo "installed $(APPS_DIR)/live-monitor.desktop"

# Two pytest-xdist workers (CI has 2 cores; most tests wait on real processes, so two at a time
# halve the wall time). --dist loadgroup: tests in one xdist_group share a worker (tests/conftest.py
# groups those that saturate the cores). TEST_JOBS=0 runs in one process; PYTEST_ARGS come last,
# e.g. PYTEST_ARGS=tests/test_wire.py or PYTEST_ARGS="-n 0 -x".
TEST_JOBS ?= 2
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n $(TEST_JOBS) --dist loadgroup $(PYTEST_ARGS)

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m bench --quick $(BENCH_ARGS)

soak: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m soak -p no:cacheprovider -o addopts='' --timeout=3600 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
