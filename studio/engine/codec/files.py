"""Code files: the `encodec` package's compressed `.ecdc` (bit-packed, the same bytes) and `.npz` in the VALL-E-X
preset layout (`audio_tokens` int64 (1, T, n_q))."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.engine.npz_checked import NPZ_ERRORS, read_member
from studio.errors import StudioError
from studio.outputs import atomic_output, describe_os_error, write_bytes

MAGIC = b"ECDC"
_HEADER = struct.Struct("!4sBI")
BITS = 10  # 1024 codes per codebook
MODEL_RATES = {"encodec_24khz": (24000, 75, None), "encodec_48khz": (48000, 150, 1.0)}  # rate, frames/s, segment
MAX_CODEBOOKS = {"encodec_24khz": 32, "encodec_48khz": 16}  # 24 kbps
# At most this many codes in a file (frames x codebooks: 3.9 h at 24 kbps, 15 h at 6 kbps), so that a hostile
# header or a zip bomb cannot make us allocate gigabytes; the int64 grid of this many codes is 256 MB.
MAX_CODES = 1 << 25


class CodeFileError(StudioError):
    pass


@dataclass
class CodeFile:
    codes: np.ndarray  # (n_q, frames) int64
    model: str  # "encodec_24khz" or "encodec_48khz"
    audio_length: int | None = None  # samples of the original (known for .ecdc)
    scales: list[float] | None = None  # per chunk (48 kHz)
    text_tokens: np.ndarray | None = None  # from a VALL-E-X preset
    lang_code: int | None = None


def chunk_frames(model: str, audio_length: int) -> list[int]:
    """Frames per chunk, as the package splits them: the 48 kHz model codes 1 s chunks, 1 % overlapped."""
    rate, fps, segment = MODEL_RATES[model]
    if segment is None:
        return [math.ceil(audio_length / rate * fps)]
    seg = int(segment * rate)
    stride = max(1, int(0.99 * seg))
    return [math.ceil(min(seg, audio_length - off) / rate * fps) for off in range(0, audio_length, stride)]


def pack(values: np.ndarray, bits: int = BITS) -> bytes:
    """Little-endian bit packing, lowest bit first, padded to a whole byte (the package's BitPacker)."""
    step = 1 << 16  # codes per slice, a multiple of 8 (whole bytes): the bit planes take 80 bytes per code
    parts = []
    for i in range(0, len(values), step):
        v = values[i: i + step].astype(np.int64)
        bitplanes = ((v[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
        parts.append(np.packbits(bitplanes, bitorder="little").tobytes())
    return b"".join(parts)


def unpack(data: bytes, count: int, bits: int = BITS) -> np.ndarray:
    """`count` values of `bits` bits from `data`, in slices so that the bit planes never take more than a few
    megabytes (the whole stream at once is 80 bytes of temporaries per code)."""
    if len(data) * 8 < count * bits:
        raise CodeFileError("The .ecdc stream ended sooner than expected.", "The file is truncated or damaged.")
    out = np.empty(count, np.int64)
    weights = (1 << np.arange(bits)).astype(np.int64)
    step = 1 << 16  # codes per slice: a multiple of 8, so every slice starts on a byte
    for i in range(0, count, step):
        n = min(step, count - i)
        chunk = np.frombuffer(data, np.uint8, count=-(-(n * bits) // 8), offset=i * bits // 8)
        planes = np.unpackbits(chunk, bitorder="little")[: n * bits]
        out[i: i + n] = planes.reshape(n, bits) @ weights
    return out


def write_ecdc(path: str | os.PathLike, f: CodeFile) -> None:
    """Same bytes as `encodec.compress(..., use_lm=False)`; written to a temporary file and renamed into place."""
    if f.audio_length is None:
        raise CodeFileError("An .ecdc file needs the original length.", "Encode from audio to write .ecdc.")
    meta = json.dumps({"m": f.model, "al": int(f.audio_length), "nc": int(f.codes.shape[0]), "lm": False})
    out = io.BytesIO()
    out.write(_HEADER.pack(MAGIC, 0, len(meta.encode())))
    out.write(meta.encode())
    start = 0
    for i, n in enumerate(chunk_frames(f.model, f.audio_length)):
        if f.scales is not None:
            out.write(struct.pack("!f", f.scales[i]))
        out.write(pack(f.codes[:, start: start + n].T.reshape(-1)))  # frame by frame, codebooks within
        start += n
    write_bytes(path, out.getvalue())


def _damaged(name: str, what: str) -> CodeFileError:
    return CodeFileError(f"'{name}' is not a valid code file: {what}.",
                         "The file is damaged or was not written by EnCodec or Voice Studio; encode the audio again.")


def read_ecdc(path: str | os.PathLike) -> CodeFile:
    """Every header field is checked before anything is allocated or decoded: a hostile header (0, negative or
    huge length, 0 or 99 codebooks) is a CodeFileError, never a traceback or a gigabyte allocation."""
    name = Path(path).name
    try:
        if Path(path).stat().st_size > MAX_CODES * BITS // 8 + (1 << 20):  # larger than any file we would open
            raise CodeFileError(f"'{name}' is {Path(path).stat().st_size} bytes, larger than any code file Voice "
                                f"Studio opens ({MAX_CODES} codes).", "Split the audio into shorter parts.")
        data = Path(path).read_bytes()
    except OSError as e:
        raise describe_os_error(e, path, "read") from e
    if len(data) == 0:
        raise CodeFileError(f"'{name}' is empty.", "Encode the audio again.")
    if len(data) < _HEADER.size or data[:4] != MAGIC:
        raise CodeFileError(f"'{name}' is not an EnCodec .ecdc file.",
                            "Open an .ecdc written by EnCodec or Voice Studio.")
    _, version, size = _HEADER.unpack(data[: _HEADER.size])
    if _HEADER.size + size > len(data):
        raise _damaged(name, f"its header says {size} bytes of metadata but the file has {len(data)} bytes")
    try:
        meta = json.loads(data[_HEADER.size: _HEADER.size + size].decode())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: `[[[[...` nested deeply
        raise _damaged(name, "its metadata is not readable JSON") from e
    if not isinstance(meta, dict) or not {"m", "al", "nc", "lm"} <= meta.keys():
        raise _damaged(name, "its metadata lacks the model, length or codebook count (m, al, nc, lm)")
    model, length, n_q, lm = meta["m"], meta["al"], meta["nc"], meta["lm"]
    if version != 0 or model not in MODEL_RATES:
        raise CodeFileError(f"'{name}' was written by an unknown codec ({str(model)[:40]!r}, version {version}).",
                            "Voice Studio reads EnCodec 24 kHz and 48 kHz files (encodec_24khz, encodec_48khz).")
    if lm is not False:
        if lm is True:
            raise CodeFileError(f"'{name}' is entropy-coded with EnCodec's language model.",
                                "Re-encode it without the language model (`encodec` without --lm, or Voice Studio).")
        raise _damaged(name, f"its language-model flag is {lm!r}, expected true or false")
    rate, fps, segment = MODEL_RATES[model]
    if not _is_int(length) or length <= 0:
        raise _damaged(name, f"its header gives the audio length as {str(length)[:40]}, expected a whole number "
                             "of samples above 0")
    if not _is_int(n_q) or not 1 <= n_q <= MAX_CODEBOOKS[model]:
        raise _damaged(name, f"its header says {str(n_q)[:40]} codebooks, expected 1 to {MAX_CODEBOOKS[model]} for "
                             f"{model}")
    # The codes the header promises must fit in the bytes there are: checked in integers (a header may say 10**400
    # samples) before any chunk list or array is built.
    frames = -(-length * fps // rate)
    chunks = 1 if segment is None else -(-length // max(1, int(0.99 * int(segment * rate))))
    needed = frames * n_q * BITS // 8 + (4 * chunks if segment is not None else 0)
    body = len(data) - _HEADER.size - size
    if needed > body:
        raise CodeFileError(f"'{name}' is truncated or its header is damaged: the header promises "
                            f"{_promise(length, rate, needed)} but only {body} bytes follow.",
                            "Copy or encode the audio again.")
    pos = _HEADER.size + size
    parts, scales = [], [] if segment is not None else None
    for n in chunk_frames(model, length):
        if scales is not None:
            if pos + 4 > len(data):
                raise CodeFileError(f"'{name}' is truncated.", "The file ended before all its audio.")
            scale = struct.unpack("!f", data[pos: pos + 4])[0]
            if not math.isfinite(scale) or scale <= 0:
                raise _damaged(name, f"a chunk's volume scale is {scale}, expected a positive number")
            scales.append(scale)
            pos += 4
        nbytes = math.ceil(n * n_q * BITS / 8)
        if pos + nbytes > len(data):
            raise CodeFileError(f"'{name}' is truncated.", "The file ended before all its audio.")
        parts.append(unpack(data[pos: pos + nbytes], n * n_q).reshape(n, n_q).T)
        pos += nbytes
    return CodeFile(np.concatenate(parts, axis=1), model, length, scales)


def _promise(samples: int, rate: int, nbytes: int) -> str:
    if samples < 10**12:
        return f"{samples / rate:.2f} s of audio ({nbytes} bytes of codes)"
    return f"an impossible {len(str(samples))}-digit number of samples"


def _too_many(name: str, codes: int, per_second: int) -> CodeFileError:
    return CodeFileError(f"'{name}' holds {codes} codes ({codes / per_second / 3600:.1f} h); Voice Studio opens at "
                         f"most {MAX_CODES} ({MAX_CODES / per_second / 3600:.1f} h at this rate).",
                         "Split the audio into shorter parts and encode each.")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def write_npz(path: str | os.PathLike, f: CodeFile) -> None:
    """VALL-E-X preset layout; text tokens and language are kept when the codes came from a preset. Written to a
    temporary file and renamed into place."""
    if f.model != "encodec_24khz":  # the layout has no model field: a reader takes every .npz for 24 kHz codes
        raise CodeFileError(f"A VALL-E-X .npz holds EnCodec 24 kHz codes; these are {f.model} codes.",
                            "Save them as .ecdc, which records the model.")
    arrays = {"audio_tokens": f.codes.T[None].astype(np.int64)}
    if f.text_tokens is not None:
        arrays["text_tokens"] = f.text_tokens
    if f.lang_code is not None:
        arrays["lang_code"] = np.array(f.lang_code, np.int32)
    with atomic_output(path) as fo:
        np.savez(fo, **arrays)


# A VALL-E-X preset's arrays are read through zipfile so that each .npy header (dtype, shape) is checked before its
# data is read (studio/engine/npz_checked.py).
_NPZ_ERRORS = (OSError, *NPZ_ERRORS)


def _npz_array(zf: zipfile.ZipFile, key: str, name: str, check: Callable[[tuple[int, ...], np.dtype], None],
               ) -> np.ndarray | None:
    return read_member(zf, key, check, lambda what: _damaged(name, what))


def read_npz(path: str | os.PathLike) -> CodeFile:
    """A VALL-E-X preset: `audio_tokens` integer (1, frames, codebooks) with codes 0…1023, optional integer
    `text_tokens` and a scalar integer `lang_code`. Every array is checked before its data is read."""
    name = Path(path).name

    def check_tokens(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if dtype.kind not in "iu":
            raise CodeFileError(f"'{name}': audio_tokens are {dtype} numbers, expected integer codes 0…1023.",
                                "The file does not hold EnCodec codes.")
        if len(shape) != 3 or shape[0] != 1 or not 1 <= shape[2] <= MAX_CODEBOOKS["encodec_24khz"] \
                or shape[1] == 0:
            raise CodeFileError(f"'{name}': audio_tokens has shape {shape}, expected (1, frames, codebooks) with "
                                f"at least 1 frame and 1 to {MAX_CODEBOOKS['encodec_24khz']} codebooks.",
                                "VALL-E-X presets hold (1, T, 8) EnCodec codes.")
        if shape[1] * shape[2] > MAX_CODES:
            raise _too_many(name, shape[1] * shape[2], 75 * shape[2])

    def check_text(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if dtype.kind not in "iu" or len(shape) > 2 or math.prod(shape) > MAX_CODES:
            raise _damaged(name, f"text_tokens is a {dtype} array of shape {shape}, expected integer token ids")

    def check_lang(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if dtype.kind not in "iu" or math.prod(shape) != 1:
            raise _damaged(name, f"lang_code is a {dtype} array of shape {shape}, expected one integer")

    try:
        with zipfile.ZipFile(path) as zf:
            tokens = _npz_array(zf, "audio_tokens", name, check_tokens)
            if tokens is None:
                raise CodeFileError(f"'{name}' has no audio_tokens array.",
                                    "Open a VALL-E-X preset or a .npz written by Voice Studio.")
            text = _npz_array(zf, "text_tokens", name, check_text)
            lang = _npz_array(zf, "lang_code", name, check_lang)
    except CodeFileError:
        raise
    except zipfile.BadZipFile as e:
        if Path(path).exists() and Path(path).stat().st_size == 0:
            raise CodeFileError(f"'{name}' is empty.", "Encode the audio again.") from e
        raise _damaged(name, f"it is not a complete .npz (zip) archive ({e})") from e
    except _NPZ_ERRORS as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise describe_os_error(e, path, "read") from e
        raise _damaged(name, f"its numpy data is damaged ({type(e).__name__}: {str(e)[:80]})") from e
    if tokens.min() < 0 or tokens.max() >= 1 << BITS:
        raise CodeFileError(f"'{name}': codes outside 0…1023 (found {int(tokens.min())} to {int(tokens.max())}).",
                            "The file does not hold EnCodec codes.")
    return CodeFile(tokens[0].T.astype(np.int64), "encodec_24khz", None, None,
                    None if text is None else text.copy(), None if lang is None else int(lang.reshape(-1)[0]))


def read_codes(path: str | os.PathLike) -> CodeFile:
    suffix = Path(path).suffix.lower()
    if suffix == ".ecdc":
        return read_ecdc(path)
    if suffix == ".npz":
        return read_npz(path)
    raise CodeFileError(f"'{Path(path).name}' is not a code file.", "Code files end in .ecdc or .npz.")


def write_codes(path: str | os.PathLike, f: CodeFile) -> None:
    suffix = Path(path).suffix.lower()
    if suffix == ".ecdc":
        write_ecdc(path, f)
    elif suffix == ".npz":
        write_npz(path, f)
    else:
        raise CodeFileError(f"Cannot write '{Path(path).name}'.", "Use an .ecdc or .npz file name.")
