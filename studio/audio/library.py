"""The recordings library: a folder of audio files with names, durations and dates; delete is undoable."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from studio.audio.io import AudioError, probe
from studio.errors import StudioError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".w64", ".caf"}


@dataclass(frozen=True)
class Recording:
    path: Path
    duration: float
    created: dt.datetime

    @property
    def name(self) -> str:
        return self.path.stem


class Library:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.trash = self.folder / ".trash"
        self.folder.mkdir(parents=True, exist_ok=True)

    def recordings(self) -> list[Recording]:
        """Every readable recording, newest first; interrupted WAV recordings are repaired on the way."""
        out = []
        for p in self.folder.iterdir():
            if p.suffix.lower() not in AUDIO_SUFFIXES or not p.is_file():
                continue
            if p.suffix.lower() == ".wav":
                repair_wav_header(p)
            try:
                info = probe(p)
            except AudioError:
                continue
            out.append(Recording(p, info.duration, dt.datetime.fromtimestamp(p.stat().st_mtime)))
        return sorted(out, key=lambda r: r.created, reverse=True)

    def new_path(self, stem: str | None = None, suffix: str = ".wav") -> Path:
        stem = stem or dt.datetime.now().strftime("Recording %Y-%m-%d %H-%M-%S")
        path, n = self.folder / f"{stem}{suffix}", 2
        while path.exists():
            path, n = self.folder / f"{stem} ({n}){suffix}", n + 1
        return path

    def rename(self, path: Path, new_name: str) -> Path:
        new_name = new_name.strip()
        if not new_name or re.search(r"[/\\\x00]", new_name) or new_name in (".", ".."):
            raise StudioError(f"'{new_name}' is not a usable name.", "Use letters, digits, spaces and dashes.")
        target = path.with_name(new_name + path.suffix)
        if target.exists() and target != path:
            raise StudioError(f"A recording named '{new_name}' already exists.", "Choose another name.")
        return path.rename(target)

    def delete(self, path: Path) -> Path:
        """Move to the library's trash; returns the trash path that `restore` takes."""
        self.trash.mkdir(exist_ok=True)
        target = self.trash / path.name
        if target.exists():
            target.unlink()
        return Path(shutil.move(str(path), target))

    def restore(self, trashed: Path) -> Path:
        target = self.new_path(trashed.stem, trashed.suffix)
        return Path(shutil.move(str(trashed), target))

    def import_file(self, source: str | os.PathLike) -> Path:
        """Copy an audio file into the library (checked readable first)."""
        info = probe(source)
        target = self.new_path(info.path.stem, info.path.suffix.lower())
        shutil.copy2(info.path, target)
        return target


def repair_wav_header(path: Path) -> bool:
    """Fix RIFF/data sizes of a WAV whose writer died before closing it. True when something was fixed."""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as f:
            head = f.read(4096)
            if len(head) < 44 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            pos = 12
            while pos + 8 <= len(head):
                cid, clen = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
                if cid == b"data":
                    block_align = struct.unpack("<H", head[32:34])[0] if head[12:16] == b"fmt " else 1
                    actual = (size - pos - 8) // max(1, block_align) * max(1, block_align)
                    riff = struct.unpack("<I", head[4:8])[0]
                    if clen == actual and riff == size - 8:
                        return False
                    f.seek(pos + 4)
                    f.write(struct.pack("<I", actual))
                    f.seek(4)
                    f.write(struct.pack("<I", pos + 8 + actual - 8))
                    return True
                pos += 8 + clen + (clen & 1)
    except OSError:
        return False
    return False
