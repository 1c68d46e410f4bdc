# Two commands for people: `make run` and `make test` (ruff, the import contracts, then pytest). Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export QT_API = pyside6
export PYQTGRAPH_QT_LIB = PySide6

.PHONY: run test venv bench screenshots package package-test clean

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
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/fundus-studio bench

screenshots: $(STAMP)
	$(BIN)/python packaging/screenshots.py
	$(BIN)/python packaging/wizard_screenshots.py

# Installer bundle (docs/packaging.md): dist/FundusStudio/, then `package-test` checks it like a clinic PC would.
PYINSTALLER_PINS = pyinstaller==6.17.0 pyinstaller-hooks-contrib==2026.9 altgraph==0.17.5

package: $(STAMP)
	$(BIN)/python -m pip install --quiet $(PYINSTALLER_PINS)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/fundus_studio.spec

package-test: $(STAMP)
	rm -rf build/pyinstaller build/bundle-extra dist/FundusStudio
	$(MAKE) package
	packaging/linux/build_tarball.sh
	packaging/test_bundle.sh dist/FundusStudio

clean:
	rm -rf build dist *.egg-info
