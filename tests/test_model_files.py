"""Damaged, foreign and ambiguous model files: each says what was expected and what was found (a StudioError,
exit 2 in the CLI), and a bare model name is never taken for a folder of the same name."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.errors import StudioError
from studio.hub import encodec_weights, whisper_weights
from studio.hub.checkpoint_io import looks_like_path
from studio.hub.ctranslate2 import CheckpointError
from studio.hub.encodec_weights import load_encodec
from studio.hub.whisper_weights import bundled_folder, load_whisper
from studio.models.encodec import ENCODEC_24KHZ, Encodec

HF_WHISPER_CONFIG = {"num_mel_bins": 80, "max_source_positions": 1500, "d_model": 384,
                     "encoder_attention_heads": 6, "encoder_layers": 4, "vocab_size": 51864,
                     "max_target_positions": 448, "decoder_attention_heads": 6, "decoder_layers": 4}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    (d / "random.pt").write_bytes(np.random.default_rng(0).bytes(5000))
    (d / "zero.pt").write_bytes(b"")
    torch.save(Encodec(ENCODEC_24KHZ).state_dict(), d / "encodec-state.pt")
    torch.save({"dims": {"n_mels": 80, "n_vocab": 10**12}, "model_state_dict": {}}, d / "huge-dims.pt")
    torch.save({"dims": HF_WHISPER_CONFIG, "model_state_dict": {}}, d / "hf-names-as-dims.pt")
    torch.save({"dims": whisper_weights.WHISPER_SIZES["tiny"].to_dict(), "model_state_dict": {}}, d / "whisper.th")
    (d / "junk-config").mkdir()
    (d / "junk-config" / "config.json").write_text('{"hello": 1}')
    (d / "not-json").mkdir()
    (d / "not-json" / "config.json").write_text("{hello")
    (d / "no-weights").mkdir()
    (d / "no-weights" / "config.json").write_text(json.dumps(HF_WHISPER_CONFIG))
    (d / "bad-safetensors").mkdir()
    (d / "bad-safetensors" / "config.json").write_text(json.dumps(HF_WHISPER_CONFIG))
    (d / "bad-safetensors" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    (d / "bert").mkdir()
    (d / "bert" / "config.json").write_text('{"model_type": "bert", "hidden_size": 768}')
    (d / "ct2-overwritten").mkdir()
    raw = bytearray((bundled_folder() / "model.bin").read_bytes())
    raw[100000:100400] = b"\xff" * 400  # inside the first weights: NaNs in fp16
    (d / "ct2-overwritten" / "model.bin").write_bytes(bytes(raw))
    (d / "ct2-random").mkdir()
    (d / "ct2-random" / "model.bin").write_bytes(np.random.default_rng(1).bytes(10000))
    (d / "empty-folder").mkdir()
    (d / "random.th").write_bytes(np.random.default_rng(2).bytes(5000))
    return d


WHISPER_CASES = {
    "random.pt": "'random.pt' is not a PyTorch checkpoint (its bytes are not tensors that torch loads without "
                 "running code); expected an openai-whisper .pt checkpoint",
    "zero.pt": "'zero.pt' is empty (0 bytes); expected an openai-whisper .pt checkpoint",
    "encodec-state.pt": "'encodec-state.pt' holds an EnCodec state dict (Hugging Face or Voice Studio layout); "
                        "expected an openai-whisper .pt checkpoint",
    "huge-dims.pt": "Whisper dimension n_vocab is 1000000000000, expected a whole number from 1 to 1048576",
    "hf-names-as-dims.pt": "unknown Whisper dimension 'num_mel_bins'",
    "junk-config": "config.json lacks num_mel_bins (and 8 more Whisper settings); found keys hello",
    "not-json": "config.json' is not valid JSON",
    "no-weights": "'no-weights' has a config.json but no weights (model.safetensors or pytorch_model.bin); it holds "
                  "config.json",
    "bad-safetensors": "model.safetensors' is not a readable safetensors file",
    "bert": "'bert' holds a Hugging Face 'bert' model, not Whisper",
    "ct2-overwritten": "The Whisper checkpoint is damaged: tensor decoder.token_embedding.weight holds NaN or "
                       "infinite values",
    "ct2-random": "is not a CTranslate2 model (format version",
    "empty-folder": "holds no Whisper model I can read: it holds nothing (the folder is empty)",
    "missing.pt": "The model file or folder",
}


@pytest.mark.parametrize("name", list(WHISPER_CASES))
def test_a_bad_whisper_model_file_says_what_was_expected_and_found(files: Path, name: str):
    with pytest.raises(CheckpointError) as err:
        load_whisper(files / name)
    assert WHISPER_CASES[name] in err.value.message and err.value.remedy


ENCODEC_CASES = {
    "random.th": "'random.th' is not a PyTorch checkpoint (its bytes are not tensors that torch loads without "
                 "running code); expected an EnCodec release checkpoint",
    "zero.pt": "'zero.pt' is empty (0 bytes); expected an EnCodec release checkpoint",
    "whisper.th": "'whisper.th' holds an openai-whisper checkpoint; expected an EnCodec release checkpoint",
    "junk-config": "config.json is not a complete EnCodec configuration",
    "bert": "config.json describes a Hugging Face 'bert' model, not EnCodec",
    "empty-folder": "holds no EnCodec model I can read: it holds nothing (the folder is empty)",
}


@pytest.mark.parametrize("name", list(ENCODEC_CASES))
def test_a_bad_encodec_file_says_what_was_expected_and_found(files: Path, name: str):
    with pytest.raises(CheckpointError) as err:
        load_encodec(files / name)
    assert ENCODEC_CASES[name] in err.value.message and err.value.remedy


def test_only_arguments_that_look_like_paths_are_paths():
    for path in ("./base", "~/models/tiny.pt", "/abs/base", "models/base", "tiny.pt", "x.th", "model.safetensors",
                 "openai/whisper-tiny"):
        assert looks_like_path(path), path
    for name in ("base", "small.en", "large-v3", "turbo", "24khz", "encodec_48khz"):
        assert not looks_like_path(name), name


class _Asked(StudioError):
    pass


def test_a_name_matching_a_folder_here_loads_the_official_model(tmp_path: Path, monkeypatch):
    """`--model base` while ./base exists: the official base (a Hub download), not the folder; ./base is the
    folder; a bare unknown name that is a folder here says how to write it as a path."""
    monkeypatch.chdir(tmp_path)
    for name in ("base", "24khz", "mine"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text("not a model")
    asked: list[str] = []

    def fake_download(repo: str, *a: object, **k: object) -> dict:
        asked.append(repo)
        raise _Asked("download asked", "")

    monkeypatch.setattr(whisper_weights, "download_files", fake_download)
    monkeypatch.setattr(encodec_weights, "download_files", fake_download)
    with pytest.raises(_Asked):
        load_whisper("base")
    with pytest.raises(_Asked):
        load_encodec("24khz")
    assert asked == ["openai/whisper-base", "facebook/encodec_24khz"]
    with pytest.raises(CheckpointError, match="holds no Whisper model I can read: it holds notes.txt"):
        load_whisper("./base")
    with pytest.raises(CheckpointError, match="holds no EnCodec model"):
        load_encodec(f".{os.sep}24khz")
    with pytest.raises(CheckpointError) as err:
        load_whisper("mine")
    assert err.value.message == "Unknown model 'mine'." and "write ./mine" in err.value.remedy


def test_cli_with_a_bad_model_file_exits_2_without_a_traceback(files: Path, tmp_path: Path, data: Path, capsys):
    from studio.cli.main import main

    rc = main(["transcribe", str(data / "jfk.flac"), "--model", str(files / "random.pt"), "--output-dir",
               str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "is not a PyTorch checkpoint" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())
    good = tmp_path / "codes.npz"
    np.savez(good, audio_tokens=np.zeros((1, 10, 8), np.int64))
    rc = main(["codec", "decode", str(good), str(tmp_path / "out.wav"), "--model", str(files / "random.th")])
    err = capsys.readouterr().err
    assert rc == 2 and "expected an EnCodec release checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "out.wav").exists()


def test_a_multilingual_pt_fetches_its_tokenizer_into_the_chosen_cache(tmp_path: Path, monkeypatch):
    """The tokenizer of a local multilingual .pt goes to the studio's cache folder, not the default HF cache."""
    from studio.models.whisper import Whisper, WhisperDims

    dims = WhisperDims(n_mels=80, n_audio_state=64, n_audio_head=2, n_audio_layer=1, n_vocab=51865,
                       n_text_state=64, n_text_head=2, n_text_layer=1)
    pt = tmp_path / "multi.pt"
    # small random values: torch.empty embeddings hold whatever memory held, and a huge value once summed to inf,
    # so the damage check refused the file before the tokenizer was asked for (a flaky failure)
    state = {k: torch.randn(v.shape) * 0.02 for k, v in Whisper(dims).state_dict().items()}
    torch.save({"dims": dims.to_dict(), "model_state_dict": state}, pt)
    asked: list[object] = []

    def fake_download(repo: str, names: list[str], cache_dir: object = None, **k: object) -> dict:
        asked.append(cache_dir)
        raise whisper_weights.WeightsMissingError("offline", "import")

    monkeypatch.setattr(whisper_weights, "download_files", fake_download)
    with pytest.raises(StudioError):
        load_whisper(str(pt), cache_dir=tmp_path / "cache")
    assert asked == [tmp_path / "cache"]
