# Two commands do all set-up on a fresh machine:  `make run`  (the app)  and  `make test`  (the tests).
SHELL := /bin/bash
# every recipe line fails on the first failed command, also inside a pipe (pip ... | sed ...)
.SHELLFLAGS := -eo pipefail -c
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchaudio==2.11.0
# System libraries (Debian 12 names; apt pulls their own dependencies). PortAudio for sounddevice; for Qt's xcb
# platform plugin, every library that PySide6's libqxcb.so, libQt6XcbQpa, QtGui/Core/DBus and the xcb GLX
# integration link to outside the wheel (checked with ldd, and on a minimal debootstrap of bookworm):
APT_RUN := libportaudio2 libegl1 libgl1 libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6 \
	libx11-6 libx11-xcb1 libxkbcommon0 libxkbcommon-x11-0 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
	libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 \
	libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libxcb-glx0 \
	open-jtalk-mecab-naist-jdic  # Open JTalk's dictionary: Japanese text -> phonemes for voice cloning (pyopenjtalk)
# ... and for the tests a PulseAudio virtual microphone, voices and sox, and an X server with the tools that drive it
APT_TEST := $(APT_RUN) pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox xvfb x11-utils xdotool
PIP := $(BIN)/pip install -q --disable-pip-version-check
# pip's "WARNING: Location ... is ignored" lines are noise here; sed drops them and keeps pip's exit status (pipefail)
QUIET := sed '/^WARNING: Location/d'

.PHONY: run test lint screenshots bench bench-clone bench-caption bench-units package clean

# Without root or sudo, missing packages stop here with the apt-get command to run; to start anyway: make run APT_RUN=
run: $(VENV)/.installed
	@./scripts/apt-ensure.sh $(APT_RUN)
	@# bytecode for the editable install, which Python does not write where PYTHONDONTWRITEBYTECODE is set (CI
	@# images, some distributions): compiling studio at every start-up took 0.45 s (benchmarks/startup.py)
	@$(BIN)/python -m compileall -q studio
	$(BIN)/studio

# Without root or sudo, missing packages are not installed: the tests that need them are skipped, and the last lines
# of the run count them and give the command that fixes it. Under CI=true anything missing fails.
test: $(VENV)/.installed-test
	@./scripts/apt-ensure.sh --optional --marker $(VENV)/.apt-missing $(APT_TEST)
	$(BIN)/ruff check studio tests benchmarks
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

$(VENV)/.torch: $(VENV)/bin/python
	$(PIP) $(TORCH) 2>&1 | $(QUIET)
	$(BIN)/python -c "import torch, torchaudio" && touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) -e '.[ja]' 2>&1 | $(QUIET) || { echo "note: Japanese text is unavailable (pyopenjtalk did not build: it needs \
	CMake and a C++ compiler); everything else works"; $(PIP) -e . 2>&1 | $(QUIET); }
	$(BIN)/python -c "import studio, PySide6, pyqtgraph, sounddevice" 2>/dev/null || $(BIN)/python -c "import studio, PySide6, pyqtgraph"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]' 2>&1 | $(QUIET)
	$(BIN)/python -c "import pytest, pytestqt, whisper, faster_whisper, encodec, transformers" && touch $@

lint: $(VENV)/.installed-test
	$(BIN)/ruff check studio tests benchmarks

screenshots: $(VENV)/.installed
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m studio.ui.screenshots artifacts/screenshots tests/data/jfk.flac \
		tests/data/vallex-preset-librispeech_1.npz

# every figure the README quotes, printed and kept in artifacts/bench.txt (about half an hour on 2 cores; run it on a
# quiet machine); `$(BIN)/python benchmarks/readme.py` pastes that file into README.md's Speed section
bench: $(VENV)/.installed-test
	@./scripts/apt-ensure.sh espeak-ng ffmpeg
	@mkdir -p artifacts
	set -o pipefail; ( \
	  echo "make bench, $$(date -u '+%Y-%m-%d %H:%M UTC'), $$(git rev-parse --short HEAD), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $$(nproc) CPUs" && \
	  QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/startup.py && echo && \
	  QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/ui_stall.py --profile && echo && \
	  $(BIN)/python benchmarks/transcribe.py && echo && \
	  $(BIN)/python benchmarks/live_lag.py && echo && \
	  $(BIN)/python benchmarks/codec.py ) | tee artifacts/bench.txt
	@echo "Saved artifacts/bench.txt; paste it into README.md with: $(BIN)/python benchmarks/readme.py"

# voice cloning at the release size on random weights (about 10 minutes on 2 cores; 1.5 GB of weights made once in
# ~/.cache/voice-studio-bench); paste: $(BIN)/python benchmarks/readme.py artifacts/bench-clone.txt --section clone
bench-clone: $(VENV)/.installed-test
	@mkdir -p artifacts
	set -o pipefail; ( \
	  echo "make bench-clone, $$(date -u '+%Y-%m-%d %H:%M UTC'), $$(git rev-parse --short HEAD), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $$(nproc) CPUs, load $$(cut -d' ' -f1-3 /proc/loadavg)" && \
	  $(BIN)/python benchmarks/clone.py $(CLONE_ARGS) ) | tee artifacts/bench-clone.txt

# image captioning, ours vs transformers, BLIP base size on random weights (about 3 minutes on 2 cores; 0.9 GB of
# weights made once in ~/.cache/voice-studio-bench)
bench-caption: $(VENV)/.installed-test
	@mkdir -p artifacts
	set -o pipefail; ( \
	  echo "make bench-caption, $$(date -u '+%Y-%m-%d %H:%M UTC'), $$(git rev-parse --short HEAD), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $$(nproc) CPUs, load $$(cut -d' ' -f1-3 /proc/loadavg)" && \
	  $(BIN)/python benchmarks/caption.py $(CAPTION_ARGS) ) | tee artifacts/bench-caption.txt

# speech units: HuBERT base features, ours vs transformers, and k-means vs scikit-learn (about 10 minutes on 2 cores
# the first time: weights and ten minutes of features made once in ~/.cache/voice-studio-bench)
bench-units: $(VENV)/.installed-test
	@mkdir -p artifacts
	set -o pipefail; ( \
	  echo "make bench-units, $$(date -u '+%Y-%m-%d %H:%M UTC'), $$(git rev-parse --short HEAD), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $$(nproc) CPUs, load $$(cut -d' ' -f1-3 /proc/loadavg)" && \
	  $(BIN)/python benchmarks/units.py ) | tee artifacts/bench-units.txt

package: $(VENV)/.installed
	./packaging/build.sh

clean:
	rm -rf $(VENV) build dist artifacts
