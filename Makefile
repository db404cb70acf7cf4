# Two commands do all set-up on a fresh machine:  `make run`  (the app)  and  `make test`  (the tests).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchaudio==2.11.0
# system libraries: PortAudio for sounddevice, Qt's xcb/EGL runtime, and for the tests a PulseAudio virtual microphone
APT_RUN := libportaudio2 libegl1 libgl1 libxkbcommon-x11-0 libxcb-cursor0 libdbus-1-3 libfontconfig1
APT_TEST := $(APT_RUN) pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox
PIP := $(BIN)/pip install -q --disable-pip-version-check

.PHONY: run test lint screenshots bench package clean

run: $(VENV)/.installed
	@./scripts/apt-ensure.sh $(APT_RUN)
	$(BIN)/studio

test: $(VENV)/.installed-test
	@./scripts/apt-ensure.sh $(APT_TEST)
	$(BIN)/ruff check studio tests benchmarks
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

$(VENV)/.torch: $(VENV)/bin/python
	$(PIP) $(TORCH) 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import torch, torchaudio" && touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import studio, PySide6, pyqtgraph, sounddevice" 2>/dev/null || $(BIN)/python -c "import studio, PySide6, pyqtgraph"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import pytest, pytestqt, whisper, faster_whisper, encodec, transformers" && touch $@

lint: $(VENV)/.installed-test
	$(BIN)/ruff check studio tests benchmarks

screenshots: $(VENV)/.installed
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m studio.ui.screenshots artifacts/screenshots tests/data/jfk.flac \
		tests/data/vallex-preset-librispeech_1.npz

bench: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/startup.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/ui_stall.py
	$(BIN)/python benchmarks/transcribe.py
	$(BIN)/python benchmarks/live_lag.py
	$(BIN)/python benchmarks/codec.py

package: $(VENV)/.installed
	./packaging/build.sh

clean:
	rm -rf $(VENV) build dist artifacts
