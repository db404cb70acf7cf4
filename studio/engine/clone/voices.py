"""Voices: an enrolled prompt in the VALL-E X preset layout, and the library folder that keeps them.

A voice file is what VALL-E X's `make_prompt` writes (`audio_tokens` int64 (1, T, 8), `text_tokens` int64 (1, N),
`lang_code` int32 scalar with zh=0, ja=1, en=2), so presets move both ways. Our own keys (`name`, `prompt_text`,
`duration`) are numpy unicode / float scalars, never pickled objects; VALL-E X ignores them. A voice's length is
always its frames / 75: the stored `duration` is written for other readers, never read back.

Files are read through zipfile with each array's header checked before its data is read (as codec/files.py does
for code files): numpy would allocate whatever shape a hostile header declares.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from studio.engine.npz_checked import NPZ_ERRORS, read_member
from studio.errors import StudioError
from studio.outputs import atomic_output, check_folder, describe_os_error, same_file, unique_path

FRAME_RATE = 75  # EnCodec 24 kHz frames per second
N_CODEBOOKS = 8  # 6 kbps, what VALL-E X models
MAX_CODE = 1023
MAX_TEXT_ID = 2047  # VALL-E X's text embedding has 2048 entries
MAX_FRAMES = int(15 * FRAME_RATE)  # 15 s: the longest prompt check_prompt and VALL-E X's make_prompt accept
MAX_TEXT_TOKENS = 4096  # 15 s of speech is a few hundred phonemes
MAX_NAME = 100  # characters
MAX_PROMPT_TEXT = 4000
MAX_FILE_BYTES = 8 << 20  # a 15 s voice is ~75 kB; anything this big is not a voice
PRESET_LANG_CODES = {"zh": 0, "ja": 1, "en": 2}  # VALL-E X macros.lang2code: the preset's numbering, not the model's
LANGUAGES = tuple(PRESET_LANG_CODES)
SUFFIX = ".npz"
_REMEDY = "Enroll the voice again, or import a VALL-E X preset (.npz with audio_tokens, text_tokens, lang_code)."


class VoiceFileError(StudioError):
    pass


class VoiceGoneError(StudioError):
    """The voice's file left the folder behind Voice Studio's back: the caller's list is out of date."""


@dataclass
class Voice:
    name: str
    language: str  # "en", "zh" or "ja"
    audio_tokens: np.ndarray  # int64 (T, 8): EnCodec 24 kHz codes at 75 frames/s
    text_tokens: np.ndarray  # int64 (N,): phoneme ids of prompt_text
    prompt_text: str
    duration: float  # seconds
    path: str | None = None


def check_language(language: str) -> str:
    if language not in PRESET_LANG_CODES:
        raise StudioError(f"'{str(language)[:20]}' is not a language voices can be enrolled in.",
                          "Use en (English), zh (Mandarin Chinese) or ja (Japanese).")
    return language


def check_name(name: str) -> str:
    """A voice name as the user typed it, without surrounding spaces; refused when empty, too long or with
    control characters."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise StudioError(f"'{name[:40]}' is not a usable voice name.",
                          f"Use 1 to {MAX_NAME} letters, digits, spaces or punctuation.")
    return name


def file_stem(name: str) -> str:
    """A file name for a voice name: characters that some file system refuses become '_'."""
    stem = re.sub(r'[<>:"/\\|?*\x00-\x1f\x7f]', "_", name).strip(" .")
    while len(stem.encode()) > 120:  # room for ' (99).npz' and the temporary file's prefix within 255 bytes
        stem = stem[:-1]
    return stem or "voice"


# ---- validation shared by reading and writing


def _bad(name: str, what: str) -> VoiceFileError:
    return VoiceFileError(f"'{name}' is not a usable voice: {what}.", _REMEDY)


def _check_tokens_header(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.kind not in "iu":
        raise _bad(name, f"audio_tokens are {dtype} numbers, expected integer EnCodec codes 0…{MAX_CODE}")
    if len(shape) != 3 or shape[0] != 1 or shape[2] != N_CODEBOOKS:
        raise _bad(name, f"audio_tokens has shape {shape}, expected (1, frames, {N_CODEBOOKS})")
    if not 1 <= shape[1] <= MAX_FRAMES:
        raise _bad(name, f"audio_tokens holds {shape[1]} frames ({shape[1] / FRAME_RATE:.1f} s), expected 1 to "
                         f"{MAX_FRAMES} ({MAX_FRAMES / FRAME_RATE:.0f} s)")


def _check_text_header(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.kind not in "iu":
        raise _bad(name, f"text_tokens are {dtype} numbers, expected integer phoneme ids")
    if len(shape) != 2 or shape[0] != 1 or not 1 <= shape[1] <= MAX_TEXT_TOKENS:
        raise _bad(name, f"text_tokens has shape {shape}, expected (1, N) with N from 1 to {MAX_TEXT_TOKENS}")


def _check_lang_header(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.kind not in "iu" or math.prod(shape) != 1:
        raise _bad(name, f"lang_code is a {dtype} array of shape {shape}, expected one integer")


def _check_text_scalar(name: str, key: str, limit: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.kind != "U" or shape != () or dtype.itemsize // 4 > limit:
        raise _bad(name, f"{key} is a {dtype} array of shape {shape}, expected text of at most {limit} characters")


def _check_values(name: str, audio: np.ndarray, text: np.ndarray, lang: int) -> None:
    if audio.min() < 0 or audio.max() > MAX_CODE:
        raise _bad(name, f"audio_tokens holds codes from {int(audio.min())} to {int(audio.max())}, expected "
                         f"0…{MAX_CODE}")
    if text.min() < 0 or text.max() > MAX_TEXT_ID:
        raise _bad(name, f"text_tokens holds ids from {int(text.min())} to {int(text.max())}, expected "
                         f"0…{MAX_TEXT_ID}")
    if lang not in PRESET_LANG_CODES.values():
        raise _bad(name, f"lang_code is {lang}, expected 0 (zh), 1 (ja) or 2 (en)")


# ---- reading


_READ_ERRORS = NPZ_ERRORS


def _member(zf: zipfile.ZipFile, key: str, name: str, check: Callable[[tuple[int, ...], np.dtype], None],
            ) -> np.ndarray | None:
    """The array `key`, its header checked by `check(shape, dtype)` before any of its data is read."""
    return read_member(zf, key, check, lambda what: _bad(name, what))


def _scalar_text(zf: zipfile.ZipFile, key: str, name: str, limit: int) -> str | None:
    value = _member(zf, key, name, lambda shape, dtype: _check_text_scalar(name, key, limit, shape, dtype))
    return None if value is None else str(value[()])


def _read_bytes(path: Path) -> bytes:
    try:
        if not path.exists():
            raise VoiceFileError(f"'{path.name}' does not exist.", f"Check the path: {path}")
        if not path.is_file():
            raise VoiceFileError(f"'{path.name}' is not a file.", "Choose a voice (.npz) file.")
        size = path.stat().st_size
        if size == 0:
            raise VoiceFileError(f"'{path.name}' is empty (0 bytes).", _REMEDY)
        if size > MAX_FILE_BYTES:
            raise _bad(path.name, f"it is {size} bytes; a voice file is well under {MAX_FILE_BYTES >> 20} MB")
        return path.read_bytes()
    except OSError as e:
        raise describe_os_error(e, path, "read") from e


def parse_voice(data: bytes, file_name: str) -> Voice:
    """A voice from the bytes of a .npz file; every field is checked (see the module docstring)."""
    name = file_name
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            audio = _member(zf, "audio_tokens", name, lambda s, d: _check_tokens_header(name, s, d))
            text = _member(zf, "text_tokens", name, lambda s, d: _check_text_header(name, s, d))
            lang = _member(zf, "lang_code", name, lambda s, d: _check_lang_header(name, s, d))
            missing = [k for k, v in (("audio_tokens", audio), ("text_tokens", text), ("lang_code", lang))
                       if v is None]
            if len(missing) == 3:
                raise _bad(name, "it is an .npz file but holds no voice (no audio_tokens, text_tokens, lang_code)")
            if missing:
                raise _bad(name, f"it has no {' and no '.join(missing)} array")
            stored_name = _scalar_text(zf, "name", name, MAX_NAME)
            prompt_text = _scalar_text(zf, "prompt_text", name, MAX_PROMPT_TEXT) or ""
    except VoiceFileError:
        raise
    except zipfile.BadZipFile:  # zipfile's own words ("File is not a zip file") add nothing the user can act on
        raise _bad(name, "it is not a complete .npz (zip) archive") from None
    except _READ_ERRORS:
        raise _bad(name, "its numpy data is damaged") from None
    assert audio is not None and text is not None and lang is not None
    lang_code = int(lang.reshape(-1)[0])
    _check_values(name, audio, text, lang_code)
    try:
        voice_name = check_name(stored_name or "")
    except StudioError:  # VALL-E X presets have no name; a damaged one is not shown either
        voice_name = Path(file_name).stem
    language = {v: k for k, v in PRESET_LANG_CODES.items()}[lang_code]
    return Voice(voice_name, language, audio[0].astype(np.int64), text[0].astype(np.int64), prompt_text,
                 audio.shape[1] / FRAME_RATE)  # the codes' length: a stored `duration` is not trusted


def load_voice(path: str | os.PathLike) -> Voice:
    """A voice file of ours or a VALL-E X preset (its three arrays; a preset without a name gets its file stem).
    Never unpickles; a damaged or foreign file is a VoiceFileError that says what is wrong."""
    path = Path(path)
    voice = parse_voice(_read_bytes(path), path.name)
    voice.path = str(path)
    return voice


# ---- writing


def voice_arrays(voice: Voice) -> dict[str, np.ndarray]:
    """The arrays of `voice` in the preset layout, checked as a file would be (a bad voice is never written)."""
    name = check_name(voice.name)
    check_language(voice.language)
    audio = np.asarray(voice.audio_tokens)
    text = np.asarray(voice.text_tokens)
    label = name
    _check_tokens_header(label, (1, *audio.shape), audio.dtype)
    _check_text_header(label, (1, *text.shape), text.dtype)
    _check_values(label, audio, text, PRESET_LANG_CODES[voice.language])
    if len(voice.prompt_text) > MAX_PROMPT_TEXT:
        raise _bad(label, f"its prompt text has {len(voice.prompt_text)} characters, at most {MAX_PROMPT_TEXT}")
    return {"audio_tokens": audio.astype(np.int64)[None], "text_tokens": text.astype(np.int64)[None],
            "lang_code": np.array(PRESET_LANG_CODES[voice.language], np.int32),
            "name": np.array(name, np.str_), "prompt_text": np.array(voice.prompt_text, np.str_),
            "duration": np.array(len(audio) / FRAME_RATE, np.float64)}  # for other readers; ours count frames


def save_voice(voice: Voice, path: str | os.PathLike) -> Path:
    """Write `voice` in the VALL-E X preset layout (plus our keys) through a temporary file renamed into place."""
    arrays = voice_arrays(voice)
    with atomic_output(path) as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return Path(path)


# ---- the library


def default_voices_folder() -> Path:
    """Beside the recordings: the app's data folder (platformdirs, as the settings' recordings default), 'voices'."""
    import platformdirs

    return Path(platformdirs.user_data_dir("VoiceStudio", appauthor=False)) / "voices"


class VoiceLibrary:
    """A folder of voice files. Delete moves a file to the folder's trash (`.trash`), so it can be restored;
    imported presets are copied, the original only read."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        from studio.audio.library import Library

        self.folder = Path(folder) if folder is not None else default_voices_folder()
        self._files = Library(self.folder)  # its trash: one slot per delete, restore under a free name
        self.trash = self._files.trash
        self.skipped: list[tuple[Path, str]] = []  # files the last `voices()` could not read, and why
        # voices read before, by file, with the file's (inode, size, mtime) then: the window lists the folder
        # after every change, on its UI thread, and parsing every file each time took 27 ms for a few voices
        self._read: dict[Path, tuple[tuple[int, int, int], Voice]] = {}

    def voices(self) -> list[Voice]:
        """Every readable voice, by name. Unreadable .npz files are left alone and listed in `skipped`."""
        try:
            paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() == SUFFIX and p.is_file())
        except OSError as e:
            raise describe_os_error(e, self.folder, "read the voices folder") from e
        out, self.skipped, read = [], [], {}
        for p in paths:
            try:
                st = p.stat()
                stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
                known = self._read.get(p)
                voice = known[1] if known is not None and known[0] == stamp else load_voice(p)
            except OSError as e:  # gone or unreadable since the listing
                self.skipped.append((p, describe_os_error(e, p, "read").message))
                continue
            except StudioError as e:
                self.skipped.append((p, e.message))
                continue
            read[p] = (stamp, voice)
            out.append(replace(voice))  # a copy: a caller's change must not reach the next listing
        self._read = read
        return sorted(out, key=lambda v: (v.name.casefold(), len(v.path or ""), v.path or ""))  # "x" before "x (2)"

    def _new_path(self, name: str) -> Path:
        return unique_path(self.folder / f"{file_stem(name)}{SUFFIX}")

    def check_free(self, name: str, path: str | os.PathLike | None = None) -> None:
        """Refuse `name` when another voice (not the one at `path`) has it: two rows alike cannot be told apart."""
        for other in self.voices() if self.folder.is_dir() else []:
            if other.name == name and (path is None or not same_file(other.path or "", path)):
                raise StudioError(f"A voice named '{name}' already exists.", "Choose another name.")

    def _present(self, path: Path) -> None:
        if not path.is_file():
            raise VoiceGoneError(f"'{path.stem}' is no longer in the voices folder (removed outside Voice Studio).",
                                 "The list now shows the voices that are there.")

    def add(self, voice: Voice) -> Voice:
        """Save `voice` under a file name of its own; returns it with `path` set. A name already in the library is
        refused."""
        check_folder(self.folder, create=True)
        voice = replace(voice, name=check_name(voice.name))
        self.check_free(voice.name)
        path = save_voice(voice, self._new_path(voice.name))
        return replace(voice, path=str(path))

    def import_preset(self, source: str | os.PathLike) -> Voice:
        """Copy a VALL-E X preset or a voice file into the library once it is checked. The bytes checked are the
        bytes written, so a file changed meanwhile cannot slip in."""
        source = Path(source)
        data = _read_bytes(source)
        voice = parse_voice(data, source.name)
        check_folder(self.folder, create=True)
        target = self._new_path(voice.name)
        with atomic_output(target) as f:
            f.write(data)
        voice.path = str(target)
        return voice

    def rename(self, path: str | os.PathLike, new_name: str) -> Voice:
        """Give a voice a new name; its file follows the name. The renamed file is written before the old one is
        removed, so a failure leaves the voice under one name or the other."""
        path = Path(path)
        new_name = check_name(new_name)
        self._present(path)
        voice = load_voice(path)
        self.check_free(new_name, path)
        voice.name = new_name
        target = self.folder / f"{file_stem(new_name)}{SUFFIX}"
        if target.exists() and not same_file(target, path):
            target = self._new_path(new_name)
        save_voice(voice, target)
        if not same_file(target, path):
            try:
                path.unlink()
            except OSError as e:
                with contextlib.suppress(OSError):
                    target.unlink()
                raise describe_os_error(e, path, "rename") from e
        voice.path = str(target)
        return voice

    def delete(self, path: str | os.PathLike) -> Path:
        """Move a voice to the trash; returns what `restore` takes."""
        self._present(Path(path))
        return self._files.delete(Path(path))

    def restore(self, trashed: str | os.PathLike) -> Voice:
        """Bring a deleted voice back (as 'name (2).npz' when its file name was taken meanwhile)."""
        return load_voice(self._files.restore(Path(trashed)))

