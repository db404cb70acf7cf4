#!/usr/bin/env bash
# Build a one-folder app in dist/voice-studio with PyInstaller, plus the desktop entry and icon beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pip install -q 'pyinstaller>=6.6' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/voice-studio.spec
cp resources/voice-studio.desktop studio/resources/voice-studio.svg dist/voice-studio/
echo "Built dist/voice-studio/voice-studio"
