"""A CTranslate2 Whisper folder is converted once into safetensors in the cache, then read back: the same tensors,
no second conversion; a changed source, a damaged entry or a cache that cannot be written only cost a
conversion."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

import studio.hub.whisper_weights as ww
from studio.hub.converted import FOLDER


@pytest.fixture()
def ct2(tmp_path: Path) -> Path:
    folder = tmp_path / "faster-whisper-tiny.en"
    shutil.copytree(ww.bundled_folder(), folder)
    return folder


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / FOLDER).glob("whisper-ct2-*")) if (cache / FOLDER).exists() else []


def test_converted_once_then_read_back_the_same(ct2: Path, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    first = ww.load_whisper(str(ct2), cache_dir=cache).model
    assert len(_entries(cache)) == 1
    calls = []
    real = ww._convert_ct2
    monkeypatch.setattr(ww, "_convert_ct2", lambda folder: calls.append(folder) or real(folder))
    again = ww.load_whisper(str(ct2), cache_dir=cache).model
    assert calls == []  # read from the cache, not converted
    a, b = first.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert again.alignment_heads == first.alignment_heads and again.dims == first.dims
    os.utime(ct2 / "model.bin", ns=(1, 1))  # the source changed (reinstalled): converted again, the old entry goes
    ww.load_whisper(str(ct2), cache_dir=cache)
    assert len(calls) == 1 and len(_entries(cache)) == 1


def test_a_damaged_entry_or_an_unwritable_cache_only_costs_a_conversion(ct2: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ww.load_whisper(str(ct2), cache_dir=cache)
    (entry,) = _entries(cache)
    data = (entry / "model.safetensors").read_bytes()
    (entry / "model.safetensors").write_bytes(data[: len(data) // 3])
    model = ww.load_whisper(str(ct2), cache_dir=cache).model  # converted again, not an error
    assert model.dims.n_vocab == 51864
    (entry,) = _entries(cache)
    assert (entry / "model.safetensors").stat().st_size == len(data)  # and stored whole again
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    assert ww.load_whisper(str(ct2), cache_dir=blocked).model.dims.n_vocab == 51864
