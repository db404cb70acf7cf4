"""The recordings library: a folder of audio files with names, durations and dates; delete is undoable.

Voice Studio never rewrites an audio file it did not write. While the recorder writes a file it keeps a mark beside
it (`.<name>.recording`, holding the writer's process id); a clean stop removes the mark. A mark left behind means
the writer died, and only such a file, once no live process is writing it, gets its WAV header sizes repaired —
once: the mark goes with the repair. Imported and other files are only ever read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from studio.audio.io import AudioError, probe
from studio.errors import StudioError
from studio.outputs import atomic_output, check_folder, describe_os_error, write_text

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".w64", ".caf"}
MARK_SUFFIX = ".recording"

_active: set[str] = set()  # files this process is recording now (real paths)
_active_lock = threading.Lock()


@dataclass(frozen=True)
class Recording:
    path: Path
    duration: float
    created: dt.datetime

    @property
    def name(self) -> str:
        return self.path.stem


# ---- marks of recordings in progress


def mark_path(audio: str | os.PathLike) -> Path:
    """The sidecar that says 'the studio is writing this file'."""
    audio = Path(audio)
    return audio.with_name(f".{audio.name}{MARK_SUFFIX}")


def begin_recording(audio: str | os.PathLike) -> None:
    """Called by the recorder before it creates `audio`: the file is marked and known as being recorded."""
    check_folder(Path(audio).parent)  # an unwritable folder is named as such, not by the mark's hidden name
    with _active_lock:
        _active.add(os.path.realpath(audio))
    try:
        write_text(mark_path(audio), f"{os.getpid()}\n")  # temp file + rename: never read half written
    except StudioError:
        with _active_lock:
            _active.discard(os.path.realpath(audio))
        raise


def end_recording(audio: str | os.PathLike, clean: bool) -> None:
    """Called by the recorder when it has closed `audio`. A clean stop removes the mark; after a write error the
    mark stays, so the next listing repairs the header."""
    with _active_lock:
        _active.discard(os.path.realpath(audio))
    if clean:
        with contextlib.suppress(OSError):
            mark_path(audio).unlink()


def is_being_recorded(audio: str | os.PathLike) -> bool:
    """True while this process, or another live one that left its mark, is writing `audio`."""
    with _active_lock:
        if os.path.realpath(audio) in _active:
            return True
    try:
        pid = int(mark_path(audio).read_text().strip())
    except (OSError, ValueError):
        return False
    if pid == os.getpid() or pid <= 0:
        return False  # ours, and not in _active: our writer is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, owned by someone else
    return True


class Library:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.trash = self.folder / ".trash"
        self.repaired: list[Path] = []  # interrupted recordings the last `recordings()` repaired
        with contextlib.suppress(OSError):  # a folder we cannot create is reported when it is used
            self.folder.mkdir(parents=True, exist_ok=True)

    def recordings(self) -> list[Recording]:
        """Every readable recording, newest first. Recordings the studio was writing when it died are repaired
        first (see the module docstring); nothing else is written."""
        try:
            self.repaired = self._repair_interrupted()
            entries = list(self.folder.iterdir())
        except OSError as e:
            raise describe_os_error(e, self.folder, "read the recordings folder") from e
        out = []
        for p in entries:
            try:
                if p.suffix.lower() not in AUDIO_SUFFIXES or not p.is_file():
                    continue
                info = probe(p)
                out.append(Recording(p, info.duration, dt.datetime.fromtimestamp(p.stat().st_mtime)))
            except (AudioError, OSError):
                continue
        return sorted(out, key=lambda r: r.created, reverse=True)

    def _repair_interrupted(self) -> list[Path]:
        repaired = []
        for mark in self.folder.glob(f".*{MARK_SUFFIX}"):
            audio = mark.with_name(mark.name[1 : -len(MARK_SUFFIX)])
            if is_being_recorded(audio):
                continue
            if audio.is_file() and audio.suffix.lower() == ".wav":
                try:
                    if repair_wav_header(audio):
                        repaired.append(audio)
                except OSError:
                    continue  # keep the mark: the next listing tries again
            with contextlib.suppress(OSError):
                mark.unlink()
        return repaired

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
        _refuse_while_recording(path, "rename")
        target = path.with_name(new_name + path.suffix)
        if target.exists() and target != path:
            raise StudioError(f"A recording named '{new_name}' already exists.", "Choose another name.")
        try:
            renamed = path.rename(target)
        except OSError as e:
            raise describe_os_error(e, path, "rename") from e
        with contextlib.suppress(OSError):  # an interrupted recording not yet repaired keeps its mark
            mark_path(path).rename(mark_path(renamed))
        return renamed

    def delete(self, path: Path) -> Path:
        """Move to the library's trash; returns the trash path that `restore` takes. Each delete gets its own
        folder in the trash, so deleting a second file of the same name never touches the first."""
        _refuse_while_recording(path, "delete")
        slot = None
        try:
            self.trash.mkdir(exist_ok=True)
            slot = Path(tempfile.mkdtemp(prefix=dt.datetime.now().strftime("%Y%m%d-%H%M%S-"), dir=self.trash))
            target = slot / path.name
            os.rename(path, target)  # same file system: nothing is copied, nothing can be half moved
        except OSError as e:
            if slot is not None:
                with contextlib.suppress(OSError):
                    slot.rmdir()
            raise describe_os_error(e, path, "delete") from e
        return target

    def restore(self, trashed: Path) -> Path:
        """Bring a trashed file back under its name, or `name (2)` when that is taken now."""
        if not trashed.is_file():
            raise StudioError(f"'{trashed.name}' is no longer in the trash, so it cannot be restored.",
                              f"It was removed from {self.trash} outside Voice Studio.")
        target = self.new_path(trashed.stem, trashed.suffix)
        try:
            os.rename(trashed, target)
        except OSError as e:
            raise describe_os_error(e, trashed, "restore") from e
        if trashed.parent != self.trash:
            with contextlib.suppress(OSError):
                trashed.parent.rmdir()
        return target

    def import_file(self, source: str | os.PathLike) -> Path:
        """Copy an audio file into the library (checked readable first). The source is only read; the copy is
        written to a temporary file and renamed into place, so a full disk leaves nothing behind."""
        info = probe(source)
        target = self.new_path(info.path.stem, info.path.suffix.lower())
        try:
            src = open(info.path, "rb")  # noqa: SIM115 - closed below, and read errors are named as reads
        except OSError as e:
            raise describe_os_error(e, info.path, "read") from e
        with src, atomic_output(target) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        with contextlib.suppress(OSError):  # the library lists by date: keep the recording's own
            st = info.path.stat()
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        return target


def _refuse_while_recording(path: Path, action: str) -> None:
    if is_being_recorded(path):
        raise StudioError(f"Cannot {action} '{path.name}' while it is being recorded.", "Stop the recording first.")


def repair_wav_header(path: Path) -> bool:
    """Fix the RIFF and data sizes of a WAV whose writer died before closing it. True when something was fixed.

    Only for files the studio wrote (see `Library`): their `data` chunk is the last one. If anything that looks
    like chunks follows the data the header declares, nothing is written. Raises OSError when the file cannot be
    read or written."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        riff = struct.unpack("<I", head[4:8])[0]
        pos, block_align = 12, 1
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                fmt = f.read(min(clen, 16))
                if len(fmt) >= 14:
                    block_align = max(1, struct.unpack("<H", fmt[12:14])[0])
            elif cid == b"data":
                start = pos + 8
                actual = (size - start) // block_align * block_align
                declared_end = start + clen + (clen & 1)
                if clen <= size - start and _chunk_at(f, declared_end, size):
                    return False  # metadata after the audio: not a file we wrote, or not ours to guess
                if clen == actual and riff == start + actual - 8:
                    return False
                f.seek(pos + 4)
                f.write(struct.pack("<I", actual))
                f.seek(4)
                f.write(struct.pack("<I", start + actual - 8))
                return True
            pos += 8 + clen + (clen & 1)
    return False


def _chunk_at(f: object, pos: int, size: int) -> bool:
    """Whether RIFF chunks (four printable characters and a length each) run from `pos` to the end of the file.
    Audio samples almost never form such a chain; LIST, bext and iXML chunks after the data always do."""
    if pos + 8 > size:
        return False
    while pos + 8 <= size:
        f.seek(pos)  # type: ignore[attr-defined]
        cid, clen = struct.unpack("<4sI", f.read(8))  # type: ignore[attr-defined]
        if not all(0x20 <= c <= 0x7E for c in cid):
            return False
        pos += 8 + clen + (clen & 1)
    return size <= pos <= size + 1  # the last pad byte is often left out
