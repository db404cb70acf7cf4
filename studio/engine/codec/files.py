"""Code files: the `encodec` package's compressed `.ecdc` (bit-packed, the same bytes) and `.npz` in the VALL-E-X
preset layout (`audio_tokens` int64 (1, T, n_q))."""

from __future__ import annotations

import io
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.errors import StudioError

MAGIC = b"ECDC"
_HEADER = struct.Struct("!4sBI")
BITS = 10  # 1024 codes per codebook
MODEL_RATES = {"encodec_24khz": (24000, 75, None), "encodec_48khz": (48000, 150, 1.0)}  # rate, frames/s, segment


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
    v = values.astype(np.int64)
    bitplanes = ((v[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(bitplanes, bitorder="little").tobytes()


def unpack(data: bytes, count: int, bits: int = BITS) -> np.ndarray:
    planes = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
    if len(planes) < count * bits:
        raise CodeFileError("The .ecdc stream ended sooner than expected.", "The file is truncated or damaged.")
    return planes[: count * bits].reshape(count, bits).astype(np.int64) @ (1 << np.arange(bits))


def write_ecdc(path: str | os.PathLike, f: CodeFile) -> None:
    """Same bytes as `encodec.compress(..., use_lm=False)`."""
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
    Path(path).write_bytes(out.getvalue())


def read_ecdc(path: str | os.PathLike) -> CodeFile:
    data = Path(path).read_bytes()
    name = Path(path).name
    if len(data) == 0:
        raise CodeFileError(f"'{name}' is empty.", "Encode the audio again.")
    if len(data) < _HEADER.size or data[:4] != MAGIC:
        raise CodeFileError(f"'{name}' is not an EnCodec .ecdc file.",
                            "Open an .ecdc written by EnCodec or Voice Studio.")
    _, version, size = _HEADER.unpack(data[: _HEADER.size])
    try:
        meta = json.loads(data[_HEADER.size: _HEADER.size + size].decode())
        model, length, n_q, lm = meta["m"], int(meta["al"]), int(meta["nc"]), bool(meta["lm"])
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        raise CodeFileError(f"'{name}' has a damaged header.", "The file is truncated or damaged.") from e
    if version != 0 or model not in MODEL_RATES:
        raise CodeFileError(f"'{name}' was written by an unknown codec ({model}, version {version}).",
                            "Voice Studio reads EnCodec 24 kHz and 48 kHz files.")
    if lm:
        raise CodeFileError(f"'{name}' is entropy-coded with EnCodec's language model.",
                            "Re-encode it without the language model (`encodec` without --lm, or Voice Studio).")
    pos = _HEADER.size + size
    chunks, scales = [], [] if MODEL_RATES[model][2] is not None else None
    for n in chunk_frames(model, length):
        if scales is not None:
            if pos + 4 > len(data):
                raise CodeFileError(f"'{name}' is truncated.", "The file ended before all its audio.")
            scales.append(struct.unpack("!f", data[pos: pos + 4])[0])
            pos += 4
        nbytes = math.ceil(n * n_q * BITS / 8)
        if pos + nbytes > len(data):
            raise CodeFileError(f"'{name}' is truncated.", "The file ended before all its audio.")
        chunks.append(unpack(data[pos: pos + nbytes], n * n_q).reshape(n, n_q).T)
        pos += nbytes
    return CodeFile(np.concatenate(chunks, axis=1), model, length, scales)


def write_npz(path: str | os.PathLike, f: CodeFile) -> None:
    """VALL-E-X preset layout; text tokens and language are kept when the codes came from a preset."""
    arrays = {"audio_tokens": f.codes.T[None].astype(np.int64)}
    if f.text_tokens is not None:
        arrays["text_tokens"] = f.text_tokens
    if f.lang_code is not None:
        arrays["lang_code"] = np.array(f.lang_code, np.int32)
    with open(path, "wb") as fo:
        np.savez(fo, **arrays)


def read_npz(path: str | os.PathLike) -> CodeFile:
    name = Path(path).name
    try:
        with np.load(path, allow_pickle=False) as z:
            if "audio_tokens" not in z:
                raise CodeFileError(f"'{name}' has no audio_tokens array.",
                                    "Open a VALL-E-X preset or a .npz written by Voice Studio.")
            tokens = z["audio_tokens"]
            text = z["text_tokens"] if "text_tokens" in z else None
            lang = int(z["lang_code"]) if "lang_code" in z else None
    except CodeFileError:
        raise
    except (OSError, ValueError, EOFError) as e:
        raise CodeFileError(f"'{name}' is not a readable .npz file ({type(e).__name__}).",
                            "The file is empty, truncated or not numpy data.") from e
    if tokens.ndim != 3 or tokens.shape[0] != 1 or not 1 <= tokens.shape[2] <= 32 or tokens.shape[1] == 0:
        raise CodeFileError(f"'{name}': audio_tokens has shape {tokens.shape}, expected (1, frames, codebooks).",
                            "VALL-E-X presets hold (1, T, 8) EnCodec codes.")
    if not np.issubdtype(tokens.dtype, np.integer) or tokens.min() < 0 or tokens.max() >= 1 << BITS:
        raise CodeFileError(f"'{name}': codes outside 0…1023.", "The file does not hold EnCodec codes.")
    return CodeFile(tokens[0].T.astype(np.int64), "encodec_24khz", None, None, text, lang)


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
