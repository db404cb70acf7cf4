"""A corpus of damaged, odd and hostile inputs, options and output paths for the `studio` command.

Each case says what a careful user should get: `error` (a one-line message, exit status 2, no output file),
`ok` (exit 0 and a non-empty output), or `either` (a damaged file we may read in part or refuse, but never
with a traceback). Whatever the outcome, no input file may change and no temporary file may be left behind.
The files are built here, from tests/data speech and from bytes, so the corpus needs nothing else.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SPEECH = "jfk.flac"


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str  # "error", "ok" or "either"
    outputs: list[Path] = field(default_factory=list)  # made on success, absent after an error
    message: str = ""  # a fragment the error message must contain (lower case)
    forbidden: str = ""  # a fragment it must not contain (e.g. "empty" for a file that holds audio)


def changed_files(before: dict[Path, str], folder: Path) -> list[str]:
    """Names of the files in `before` that are gone or whose bytes differ now."""
    now = digest(folder)
    return [p.name for p, h in before.items() if now.get(p) != h]


def digest(folder: Path) -> dict[Path, str]:
    """sha256 of every file below `folder`."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def _speech(data: Path, seconds: float = 4.0, rate: int = 16000) -> np.ndarray:
    x, sr = sf.read(data / SPEECH, dtype="float32", always_2d=True)
    x = x.mean(axis=1)[: int(seconds * sr)]
    if sr != rate:
        idx = np.arange(int(len(x) * rate / sr)) * (sr / rate)
        x = np.interp(idx, np.arange(len(x)), x).astype(np.float32)
    return x


def _wav_header(rate: int, channels: int, bits: int, data_bytes: int, riff_bytes: int | None = None) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    riff = riff_bytes if riff_bytes is not None else 4 + 8 + len(fmt) + 8 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", data_bytes))


def _pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def audio_files(folder: Path, data: Path) -> dict[str, tuple[Path, str, str, str]]:
    """name -> (path, expect, message fragment, forbidden fragment)."""
    rng = np.random.default_rng(7)
    speech = _speech(data)
    f: dict[str, tuple[Path, str, str, str]] = {}

    def put(name: str, raw: bytes, expect: str, message: str = "", forbidden: str = "") -> None:
        p = folder / name
        p.write_bytes(raw)
        f[name] = (p, expect, message, forbidden)

    def sound(name: str, x: np.ndarray, rate: int, expect: str = "ok", **kw: object) -> None:
        p = folder / name
        sf.write(p, x, rate, format="WAV" if p.suffix == ".txt" else None, **kw)  # type: ignore[arg-type]
        f[name] = (p, expect, "", "")

    put("empty.wav", b"", "error", "empty")
    put("text.wav", b"hello, this is not audio\n" * 40, "error")
    put("random.wav", rng.bytes(50_000), "error")
    put("random.mp3", rng.bytes(50_000), "error", "", "regular file")
    put("random.flac", b"fLaC" + rng.bytes(30_000), "error")
    put("random.ogg", b"OggS" + rng.bytes(30_000), "error")
    put("riff-junk.wav", b"RIFF0000WAVEjunk", "error")
    put("header-only.wav", _wav_header(16000, 1, 16, 0), "error")
    # the header says 0 data bytes but 4 s follow: read them or call the header damaged, never "empty"
    put("zero-size-header.wav", _wav_header(16000, 1, 16, 0, riff_bytes=36) + _pcm16(speech), "either", "",
        "empty")
    # the header promises 10 s, 4 s are there (a copy that was cut short)
    put("truncated.wav", _wav_header(16000, 1, 16, 320_000) + _pcm16(speech), "either")
    put("odd-byte.wav", _wav_header(16000, 1, 16, 8001) + _pcm16(speech[:4000]) + b"\x01", "either")
    put("bad-format.wav", _wav_header(16000, 0, 16, 100) + bytes(100), "error")
    put("zero-rate.wav", _wav_header(0, 1, 16, 3200) + bytes(3200), "error")
    # a WAV from a field recorder: metadata after the audio, which must survive untouched
    list_chunk = b"LIST" + struct.pack("<I", 26) + b"INFOINAM" + struct.pack("<I", 14) + b"field take 1\x00\x00"
    put("trailing-list.wav", _wav_header(16000, 1, 16, len(speech) * 2) + _pcm16(speech) + list_chunk, "ok")
    sound("one-sample.wav", np.zeros(1, np.float32), 16000, "either")
    sound("silence.wav", np.zeros(16000 * 3, np.float32), 16000)
    sound("8k-stereo.wav", np.stack([speech[::2], speech[::2] * 0.5], 1), 8000)
    sound("44101hz.wav", _speech(data, 2.0, 44101), 44101)
    sound("11025hz-6ch.wav", np.repeat(_speech(data, 2.0, 11025)[:, None], 6, 1), 11025)
    sound("192k.wav", _speech(data, 1.5, 192000), 192000)
    sound("24bit.flac", speech, 16000, subtype="PCM_24")
    sound("float64.wav", speech.astype(np.float64), 16000, subtype="DOUBLE")
    sound("loud-clipped.wav", np.clip(speech * 4, -1, 1), 16000)
    nan = speech.copy()
    nan[1000:1100] = np.nan
    nan[5000] = np.inf
    sound("nan-inf.wav", nan, 16000, "either", subtype="FLOAT")
    sound("name with spaces é.wav", speech, 16000)
    sound("speech.txt", speech, 16000)  # a WAV under a misleading name
    folder_wav = folder / "folder.wav"
    folder_wav.mkdir()
    f["folder.wav"] = (folder_wav, "error", "", "")
    f["missing.wav"] = (folder / "missing.wav", "error", "not found|does not exist", "")
    fifo = folder / "fifo.wav"
    os.mkfifo(fifo)
    f["fifo.wav"] = (fifo, "error", "", "")
    return f


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _ecdc(meta: bytes, body: bytes = b"") -> bytes:
    return b"ECDC" + struct.pack("!BI", 0, len(meta)) + meta + body


def code_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, expect) for `studio codec decode`."""
    good = _npz({"audio_tokens": np.random.default_rng(1).integers(0, 1024, (1, 75, 8))})
    out: dict[str, tuple[Path, str]] = {}

    def put(name: str, raw: bytes, expect: str = "error") -> None:
        (folder / name).write_bytes(raw)
        out[name] = (folder / name, expect)

    put("good.npz", good, "ok")
    put("truncated.npz", good[: len(good) // 2])
    crc = bytearray(good)
    crc[len(crc) // 2] ^= 0xFF  # inside the array's bytes: the zip CRC no longer matches
    put("crc.npz", bytes(crc))
    put("empty.npz", b"")
    put("not-zip.npz", b"PK\x03\x04" + bytes(100))
    put("lang-array.npz", _npz({"audio_tokens": np.zeros((1, 10, 8), np.int64),
                                "lang_code": np.array([1, 2], np.int32)}))
    put("lang-text.npz", _npz({"audio_tokens": np.zeros((1, 10, 8), np.int64), "lang_code": np.array("en")}))
    put("float-codes.npz", _npz({"audio_tokens": np.full((1, 10, 8), 0.5)}))
    put("negative-codes.npz", _npz({"audio_tokens": np.full((1, 10, 8), -3, np.int64)}))
    put("big-codes.npz", _npz({"audio_tokens": np.full((1, 10, 8), 1024, np.int64)}))
    put("zero-frames.npz", _npz({"audio_tokens": np.zeros((1, 0, 8), np.int64)}))
    put("zero-books.npz", _npz({"audio_tokens": np.zeros((1, 10, 0), np.int64)}))
    put("99-books.npz", _npz({"audio_tokens": np.zeros((1, 10, 99), np.int64)}))
    put("4d-codes.npz", _npz({"audio_tokens": np.zeros((1, 1, 10, 8), np.int64)}))
    put("no-tokens.npz", _npz({"text_tokens": np.zeros(5, np.int64)}))
    objects = io.BytesIO()
    with zipfile.ZipFile(objects, "w") as z:  # a pickled object array: must not be unpickled
        arr = io.BytesIO()
        np.save(arr, np.array([object()], dtype=object), allow_pickle=True)
        z.writestr("audio_tokens.npy", arr.getvalue())
    put("pickled.npz", objects.getvalue())

    def meta(length: int, books: int, model: str = "encodec_24khz") -> bytes:
        return f'{{"m": "{model}", "al": {length}, "nc": {books}, "lm": false}}'.encode()

    frames = math.ceil(24000 / 24000 * 75)
    body = bytes(math.ceil(frames * 8 * 10 / 8))
    put("good.ecdc", _ecdc(meta(24000, 8), body), "ok")
    put("zero-length.ecdc", _ecdc(meta(0, 8), body))
    put("negative-length.ecdc", _ecdc(meta(-24000, 8), body))
    put("zero-books.ecdc", _ecdc(meta(24000, 0), body))
    put("99-books.ecdc", _ecdc(meta(24000, 99), body))
    put("huge-length.ecdc", _ecdc(meta(2**40, 8), body))
    put("unknown-model.ecdc", _ecdc(meta(24000, 8, "encodec_96khz"), body))
    put("truncated.ecdc", _ecdc(meta(24000, 8), body[:20]))
    put("bad-json.ecdc", _ecdc(b'{"m": "encodec_24khz", "al": ', body))
    put("huge-meta.ecdc", b"ECDC" + struct.pack("!BI", 0, 2**31) + b"{}")
    put("ecdc-empty.ecdc", b"")
    put("wav-as.ecdc", _wav_header(16000, 1, 16, 0))
    return out


def option_cases(good: Path, out: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, message fragment) for options that must be refused before any work."""
    t = ["transcribe", str(good), "-o", str(out), "--model", "tiny.en"]
    m = ["mel", str(good), "--png", str(out / "m.png")]
    return [
        ("beam-size 0", [*t, "--beam-size", "0"], "beam-size"),
        ("beam-size -3", [*t, "--beam-size", "-3"], "beam-size"),
        ("beam-size abc", [*t, "--beam-size", "abc"], "beam-size"),
        ("best-of 0", [*t, "--best-of", "0"], "best-of"),
        ("patience -1", [*t, "--patience", "-1"], "patience"),
        ("patience 0", [*t, "--patience", "0"], "patience"),
        ("patience nan", [*t, "--patience", "nan"], "patience"),
        ("threads -5", [*t, "--threads", "-5"], "threads"),
        ("threads 100000", [*t, "--threads", "100000"], "threads"),
        ("increment -0.2", [*t, "--temperature-increment", "-0.2"], "temperature-increment"),
        ("increment 7", [*t, "--temperature-increment", "7"], "temperature-increment"),
        ("increment inf", [*t, "--temperature-increment", "inf"], "temperature-increment"),
        ("format mp3", [*t, "-f", "mp3"], "format"),
        ("format empty", [*t, "-f", ","], "format"),
        ("language klingon", [*t, "--language", "klingon"], "language"),
        ("model nonsense", [*t[:-1], "no-such-model-xyz"], "model"),
        ("width 0", [*m, "--width", "0"], "width"),
        ("width -1", [*m, "--width", "-1"], "width"),
        ("kind bogus", [*m, "--kind", "bogus"], "kind"),
        ("record seconds -1", ["record", str(out / "r.wav"), "--seconds", "-1"], "seconds"),
        ("record rate 0", ["record", str(out / "r.wav"), "--samplerate", "0"], "samplerate"),
        ("codec bandwidth 7", ["codec", "stats", str(good), "--bandwidth", "7"], "bandwidth"),
        ("codec codebooks 0", ["codec", "decode", str(out / "x.npz"), str(out / "x.wav"), "--codebooks", "0"],
         "codebooks"),
    ]
