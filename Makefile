# Two commands for people: `make run` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export QT_API = pyside6
export PYQTGRAPH_QT_LIB = PySide6

.PHONY: run test venv bench screenshots package clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/fundus-studio

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/fundus-studio bench

screenshots: $(STAMP)
	$(BIN)/python packaging/screenshots.py

package: $(STAMP)
	$(BIN)/python -m pip install --quiet "pyinstaller==6.17.0"
	$(BIN)/pyinstaller --noconfirm packaging/fundus_studio.spec

clean:
	rm -rf build dist *.egg-info
