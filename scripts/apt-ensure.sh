#!/usr/bin/env bash
# Install the named Debian packages that are missing; say exactly what to run where we cannot.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "Voice Studio needs these system libraries: ${missing[*]} (PortAudio for audio, Qt runtime libraries)." >&2
  echo "Install them with your package manager (e.g. 'brew install portaudio' on macOS)." >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Run: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
fi
echo "Installing system packages: ${missing[*]}"
$SUDO apt-get update -qq >/dev/null || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
