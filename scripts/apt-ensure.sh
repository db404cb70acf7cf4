#!/usr/bin/env bash
# Install the named Debian packages that are missing; where we cannot (no root, no sudo), say exactly what to run
# and fail, or with --optional go on. Off Debian it only prints a hint.
#   apt-ensure.sh [--optional] [--marker FILE] PACKAGE...
# --optional  cannot-install is not an error (make test: the tests that need them are skipped and counted, and the
#             last lines of the run repeat the fix). Under CI=true it is always an error.
# --marker    FILE lists what could not be installed (tests/conftest.py reads it); removed when nothing is missing.
set -euo pipefail
optional=0
marker=""
while [ $# -gt 0 ]; do
  case "$1" in
    --optional) optional=1; shift ;;
    --marker) marker=$2; shift 2 ;;
    *) break ;;
  esac
done
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  [ -z "$marker" ] || rm -f "$marker"
  exit 0
fi

cannot() {  # $1: why, $2: the command that fixes it
  [ -z "$marker" ] || { mkdir -p "$(dirname "$marker")"; echo "${missing[*]}" >"$marker"; }
  echo "Missing system packages: ${missing[*]}" >&2
  echo "They cannot be installed here: $1. Fix: $2" >&2
  if [ -n "${CI:-}" ] || [ $optional -eq 0 ]; then exit 1; fi
  echo "Going on without them; the tests that need them are skipped and counted at the end." >&2
  exit 0
}

if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
  # Not Debian-like: these names mean nothing here and we cannot tell what is installed, so only a hint.
  echo "Voice Studio needs the equivalents of these Debian packages: $*" >&2
  echo "(PortAudio for audio, Qt's xcb libraries on X11; e.g. 'brew install portaudio' on macOS.)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else
    cannot "not root and no password-less sudo" "sudo apt-get install -y ${missing[*]}"
  fi
fi
echo "Installing system packages: ${missing[*]}"
apt=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
# A failed update is not fatal by itself (the package lists on disk may do); a failed install is.
"${apt[@]}" update -qq >/dev/null || echo "apt-get update failed; trying with the package lists already here" >&2
"${apt[@]}" install -y -qq "${missing[@]}" >/dev/null
[ -z "$marker" ] || rm -f "$marker"
