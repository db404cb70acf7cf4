"""Damaged and hostile code files (.npz VALL-E-X presets, .ecdc): every field is checked before decoding, each
failure is one CodeFileError (CLI: exit 2, no traceback), and code files are written atomically."""

import hashlib
import io
import json
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from studio.engine.codec.files import CodeFile, CodeFileError, read_codes, write_ecdc, write_npz


def _npz(**arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _ecdc(meta: object, body: bytes = b"\0" * 1000) -> bytes:
    m = json.dumps(meta).encode()
    return struct.pack("!4sBI", b"ECDC", 0, len(m)) + m + body


TOKENS = np.random.default_rng(0).integers(0, 1024, (1, 100, 8))
GOOD_NPZ = _npz(audio_tokens=TOKENS, lang_code=np.array(1, np.int32), text_tokens=np.arange(10)[None])


def _crc_damaged() -> bytes:
    raw = bytearray(GOOD_NPZ)
    raw[GOOD_NPZ.find(b"audio_tokens.npy") + 300] ^= 0xFF  # a byte of the codes, inside the first member
    return bytes(raw)


def _meta(**kw: object) -> dict:
    return {"m": "encodec_24khz", "al": 2400, "nc": 8, "lm": False, **kw}


# name -> (bytes, a phrase the message must contain)
BAD = {
    "truncated.npz": (GOOD_NPZ[: len(GOOD_NPZ) // 2], "not a complete .npz"),
    "crc.npz": (_crc_damaged(), "Bad CRC-32"),
    "lang-vector.npz": (_npz(audio_tokens=TOKENS, lang_code=np.arange(3)), "lang_code is a int64 array of shape (3,)"),
    "lang-float.npz": (_npz(audio_tokens=TOKENS, lang_code=np.array(1.5)), "lang_code is a float64"),
    "lang-pickled.npz": (_npz(audio_tokens=TOKENS, lang_code=np.array([{"a": 1}], dtype=object)), "pickled"),
    "tokens-pickled.npz": (_npz(audio_tokens=np.array([[[1]]], dtype=object)), "pickled"),
    "float.npz": (_npz(audio_tokens=TOKENS.astype(np.float32)), "float32 numbers"),
    "negative.npz": (_npz(audio_tokens=-TOKENS - 1), "outside 0…1023"),
    "1024.npz": (_npz(audio_tokens=np.full((1, 10, 8), 1024)), "outside 0…1023"),
    "0-frames.npz": (_npz(audio_tokens=np.zeros((1, 0, 8), np.int64)), "shape (1, 0, 8)"),
    "0-codebooks.npz": (_npz(audio_tokens=np.zeros((1, 10, 0), np.int64)), "shape (1, 10, 0)"),
    "33-codebooks.npz": (_npz(audio_tokens=np.zeros((1, 10, 33), np.int64)), "1 to 32 codebooks"),
    "2d.npz": (_npz(audio_tokens=np.zeros((10, 8), np.int64)), "shape (10, 8)"),
    "no-tokens.npz": (_npz(codes=TOKENS), "no audio_tokens"),
    "text.npz": (b"not numpy at all", "not a complete .npz"),
    "length-0.ecdc": (_ecdc(_meta(al=0)), "audio length as 0"),
    "length-negative.ecdc": (_ecdc(_meta(al=-5)), "audio length as -5"),
    "length-float.ecdc": (_ecdc(_meta(al=2400.5)), "audio length as 2400.5"),
    "length-text.ecdc": (_ecdc(_meta(al="x")), "audio length as x"),
    "0-codebooks.ecdc": (_ecdc(_meta(nc=0)), "0 codebooks, expected 1 to 32"),
    "99-codebooks.ecdc": (_ecdc(_meta(nc=99)), "99 codebooks, expected 1 to 32"),
    "17-codebooks-48k.ecdc": (_ecdc(_meta(m="encodec_48khz", nc=17)), "17 codebooks, expected 1 to 16"),
    "huge-length.ecdc": (_ecdc(_meta(al=2**31)), "promises 89478.49 s of audio"),
    "huge-length-48k.ecdc": (_ecdc(_meta(m="encodec_48khz", al=2**63)), "impossible 19-digit number"),
    "absurd-length.ecdc": (_ecdc(_meta(al=10**400)), "impossible 401-digit number"),
    "unknown-model.ecdc": (_ecdc(_meta(m="encodec_96khz")), "unknown codec ('encodec_96khz'"),
    "metadata-list.ecdc": (_ecdc([1, 2]), "lacks the model"),
    "metadata-size.ecdc": (struct.pack("!4sBI", b"ECDC", 0, 2**31) + b"{}", "2147483648 bytes of metadata"),
    "nan-scale-48k.ecdc": (_ecdc(_meta(m="encodec_48khz", al=4800, nc=2), struct.pack("!f", float("nan")) + bytes(99)),
                           "scale is nan"),
    "empty.ecdc": (b"", "is empty"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_damaged_or_hostile_code_file_is_one_clear_error(tmp_path: Path, name: str):
    data, phrase = BAD[name]
    path = tmp_path / name
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(CodeFileError) as err:
            read_codes(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert phrase in err.value.message and err.value.remedy
    assert peak < 20e6  # a header asking for 2**63 samples allocates nothing before failing
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_cli_decode_of_every_bad_code_file_exits_2_without_a_traceback(tmp_path: Path, capsys):
    from studio.cli.main import main

    for name, (data, phrase) in BAD.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert main(["codec", "decode", str(path), str(tmp_path / "out.wav")]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and phrase in err and "Traceback" not in err, name
        assert not (tmp_path / "out.wav").exists()


def test_a_good_preset_and_a_long_48k_ecdc_still_read(tmp_path: Path):
    path = tmp_path / "good.npz"
    path.write_bytes(GOOD_NPZ)
    f = read_codes(path)
    assert np.array_equal(f.codes, TOKENS[0].T) and f.lang_code == 1 and f.text_tokens.shape == (1, 10)
    codes = np.random.default_rng(1).integers(0, 1024, (4, 150 * 3 + 5))
    length = 48000 * 3
    from studio.engine.codec.files import chunk_frames

    frames = sum(chunk_frames("encodec_48khz", length))
    write_ecdc(tmp_path / "x.ecdc", CodeFile(codes[:, :frames], "encodec_48khz", length, [0.5] * 4))
    back = read_codes(tmp_path / "x.ecdc")
    assert np.array_equal(back.codes, codes[:, :frames]) and back.scales == [0.5] * 4


def test_code_files_are_written_atomically(tmp_path: Path, monkeypatch):
    """A failure while writing leaves the previous file untouched and no partial file beside it."""
    f = CodeFile(TOKENS[0].T, "encodec_24khz", 100 * 320)
    for name, writer in (("codes.npz", write_npz), ("codes.ecdc", write_ecdc)):
        target = tmp_path / name
        target.write_bytes(b"previous export")

        def fail(*a: object, **k: object) -> None:
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as m:
            m.setattr("os.fsync", fail)
            with pytest.raises(Exception, match="disk is full"):
                writer(target, f)
        assert target.read_bytes() == b"previous export"
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        writer(target, f)
        assert np.array_equal(read_codes(target).codes, f.codes)


def test_an_npy_header_cut_inside_its_dict_is_a_message_for_code_and_voice_files(tmp_path: Path) -> None:
    """numpy parses the header with Python's tokenizer, which raises tokenize.TokenError on an unclosed brace."""
    import zipfile

    from studio.engine.clone.voices import VoiceFileError, load_voice

    header = b"{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2, 8"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(128)
    path = tmp_path / "cut-header.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("audio_tokens.npy", npy)
    with pytest.raises(CodeFileError):
        read_codes(path)
    with pytest.raises(VoiceFileError):
        load_voice(path)
