"""fairseq's original HuBERT / wav2vec 2.0 training checkpoints, read with weights_only through stand-ins.

The checkpoints are built here the way fairseq's trainer writes them (its `state_dict()`: `args`, `cfg`, `model`,
`optimizer_history`, `task_state` with label dictionaries, `extra_state` with numpy values), with the weights of a
random torchaudio model under fairseq's module names. torchaudio's own fairseq importer (`_convert_state_dict`)
checks that those names are fairseq's, and torchaudio's model is the numerical reference.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.audio.io import load_audio
from studio.engine.units.features import extract_features
from studio.hub.ctranslate2 import CheckpointError
from studio.hub.fairseq_hubert import conv_layers, read_checkpoint
from studio.hub.hubert_weights import load_encoder
from studio.hub.local_import import identify
from studio.hub.stand_ins import plain

DATA = Path(__file__).parent / "data"
TOL = 1e-4
CONVS = "[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32,2,2)] * 2"
# torchaudio's names -> fairseq's (the inverse of what torchaudio's importer does), to write the test files
_TO_FAIRSEQ = [
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"encoder\.feature_projection\.layer_norm\.", "layer_norm."),
    (r"encoder\.feature_projection\.projection\.", "post_extract_proj."),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", "encoder.pos_conv.0.weight_g"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", "encoder.pos_conv.0.weight_v"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.", "encoder.pos_conv.0."),
    (r"encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
    (r"encoder\.transformer\.", "encoder."),
]


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(DATA / "jfk.flac", 16_000)[:48_000]


def _torchaudio_model(large: bool) -> torch.nn.Module:
    import torchaudio

    torch.manual_seed(7 if large else 8)
    return torchaudio.models.wav2vec2_model(
        extractor_mode="layer_norm" if large else "group_norm", extractor_conv_layer_config=conv_layers(CONVS),
        extractor_conv_bias=large, encoder_embed_dim=64, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=16,
        encoder_pos_conv_groups=4, encoder_num_layers=3, encoder_num_heads=4, encoder_attention_dropout=0.0,
        encoder_ff_interm_features=128, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
        encoder_layer_norm_first=large, encoder_layer_drop=0.0, aux_num_out=None).eval()


def _fairseq_state(ref: torch.nn.Module, large: bool) -> dict[str, torch.Tensor]:
    from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict

    out = {}
    for key, t in ref.state_dict().items():
        norm = re.match(r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(\w+)$", key)
        if norm:  # GroupNorm (first convolution only) is module 2; LayerNorm sits inside a Sequential at 2
            key = f"feature_extractor.conv_layers.{norm[1]}.2.{'1.' if large else ''}{norm[2]}"
        for pattern, repl in _TO_FAIRSEQ:
            if re.match(pattern, key):
                key = re.sub(pattern, repl, key, count=1)
                break
        out[key] = t.clone()
    # torchaudio's importer reads these as fairseq's names (its pos-conv names are the pre-parametrization ones)
    back = {k.replace("weight_g", "parametrizations.weight.original0").replace("weight_v",
                                                                               "parametrizations.weight.original1"): v
            for k, v in _convert_state_dict(out).items()}
    assert back.keys() == ref.state_dict().keys()
    # what pre-training adds: the mask embedding, the label embeddings and the final projection
    out |= {"mask_emb": torch.randn(64), "label_embs_concat": torch.randn(504, 32),
            "final_proj.weight": torch.randn(32, 64), "final_proj.bias": torch.randn(32)}
    return out


def _model_settings(large: bool) -> dict:
    return {"_name": "hubert", "extractor_mode": "layer_norm" if large else "default", "encoder_layers": 3,
            "encoder_embed_dim": 64, "encoder_ffn_embed_dim": 128, "encoder_attention_heads": 4,
            "activation_fn": "gelu", "layer_type": "transformer", "conv_feature_layers": CONVS, "conv_bias": large,
            "layer_norm_first": large, "conv_pos": 16, "conv_pos_groups": 4, "dropout": 0.1, "label_rate": 50.0}


class Dictionary:
    """Stands for fairseq.data.dictionary.Dictionary in the saved task state; loading must never build one."""

    __module__ = "fairseq.data.dictionary"
    built = False

    def __init__(self) -> None:
        self.symbols, self.count, self.indices = ["<s>", "<pad>", "0", "1"], [1, 1, 9, 7], {"0": 2, "1": 3}

    def __setstate__(self, state: dict) -> None:
        Dictionary.built = True
        self.__dict__.update(state)


@pytest.fixture
def fake_fairseq(monkeypatch: pytest.MonkeyPatch) -> type:
    """A module named fairseq.data.dictionary while the test saves (fairseq itself is not installed)."""
    for name in ("fairseq", "fairseq.data", "fairseq.data.dictionary"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["fairseq.data.dictionary"].Dictionary = Dictionary  # type: ignore[attr-defined]
    Dictionary.built = False
    return Dictionary


def _save(path: Path, model_state: dict, *, cfg: object = None, args: object = None, legacy: bool = False) -> Path:
    torch.save({"args": args, "cfg": cfg, "model": model_state, "criterion": None,
                "optimizer_history": [{"criterion_name": "HubertCriterion", "optimizer_name": "FairseqAdam",
                                       "lr_scheduler_state": {"best": np.float64(7.25)}, "num_updates": 400_000}],
                "task_state": {"dictionaries": [Dictionary()]},
                "extra_state": {"metrics": {}, "previous_training_time": np.float32(1.5),
                                "train_iterator": {"epoch": 2, "iterations_in_epoch": 0}}}, path,
               _use_new_zipfile_serialization=not legacy)
    return path


def _reference(ref: torch.nn.Module, wave: np.ndarray, layer: int) -> np.ndarray:
    with torch.no_grad():
        feats, _ = ref.extract_features(torch.from_numpy(wave)[None], num_layers=layer)
    return feats[layer - 1][0].numpy()


def _normalised(wave: np.ndarray) -> np.ndarray:
    return ((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)).astype(np.float32)


def test_base_checkpoint_with_cfg_loads_and_agrees(tmp_path: Path, jfk: np.ndarray, fake_fairseq: type) -> None:
    """The 2021 layout (hubert_base_ls960.pt): `cfg` as plain containers, task dictionaries, numpy values."""
    ref = _torchaudio_model(large=False)
    cfg = {"_name": None, "common": {"seed": 1337}, "model": _model_settings(large=False),
           "task": {"_name": "hubert_pretraining", "normalize": False, "labels": ["km"], "sample_rate": 16000}}
    path = _save(tmp_path / "hubert_base_ls960.pt", _fairseq_state(ref, large=False), cfg=cfg)
    loaded = load_encoder(path)
    assert not fake_fairseq.built  # the task's Dictionary was never built: nothing the file names ran
    assert loaded.name == str(path.resolve()) and not loaded.normalize
    c = loaded.model.cfg
    assert (c.num_hidden_layers, c.num_attention_heads, c.feat_extract_norm, c.do_stable_layer_norm) == (
        3, 4, "group", False)
    assert c.conv_stride == (5, 2, 2, 2, 2, 2, 2)
    for layer in (1, 3):
        assert np.abs(extract_features(jfk, loaded, layer) - _reference(ref, jfk, layer)).max() < TOL


def test_large_checkpoint_with_omegaconf_cfg(tmp_path: Path, jfk: np.ndarray, fake_fairseq: type) -> None:
    """LayerNorm convolutions, pre-LN, normalised input; `cfg` as omegaconf containers (older trainers)."""
    omegaconf = pytest.importorskip("omegaconf")
    ref = _torchaudio_model(large=True)
    cfg = omegaconf.OmegaConf.create({"model": _model_settings(large=True),
                                      "task": {"_name": "hubert_pretraining", "normalize": True}})
    path = _save(tmp_path / "hubert_large_ll60k.pt", _fairseq_state(ref, large=True), cfg=cfg)
    # the stand-ins give back exactly what omegaconf holds
    settings = plain(read_checkpoint(path, "")["cfg"])  # type: ignore[index]
    assert settings == omegaconf.OmegaConf.to_container(cfg)
    loaded = load_encoder(path)
    assert loaded.normalize
    c = loaded.model.cfg
    assert (c.feat_extract_norm, c.do_stable_layer_norm, c.conv_bias, c.num_attention_heads) == (
        "layer", True, True, 4)
    want = _reference(ref, _normalised(jfk), 2)
    assert np.abs(extract_features(jfk, loaded, 2) - want).max() < TOL


def test_legacy_args_and_fine_tuned_checkpoint(tmp_path: Path, jfk: np.ndarray, fake_fairseq: type) -> None:
    """wav2vec_small.pt's generation: a flat argparse Namespace, torch's pre-zip format; a fine-tuned model:
    `w2v_encoder.w2v_model.` names, a CTC projection, and the pre-trained model's settings inside `w2v_args`."""
    ref = _torchaudio_model(large=False)
    state = _fairseq_state(ref, large=False)
    args = argparse.Namespace(arch="wav2vec2", task="audio_pretraining", normalize=False,
                              **{k: v for k, v in _model_settings(large=False).items() if k != "_name"})
    loaded = load_encoder(_save(tmp_path / "wav2vec_small.pt", state, args=args, legacy=True))
    assert not fake_fairseq.built
    assert np.abs(extract_features(jfk, loaded, 2) - _reference(ref, jfk, 2)).max() < TOL

    tuned = {"w2v_encoder.w2v_model." + k: v for k, v in state.items() if k not in ("final_proj.weight",
                                                                                      "final_proj.bias")}
    tuned |= {"w2v_encoder.proj.weight": torch.randn(32, 64), "w2v_encoder.proj.bias": torch.randn(32)}
    cfg = {"model": {"_name": "wav2vec_ctc", "w2v_args": {"model": _model_settings(large=False),
                                                          "task": {"normalize": False}}},
           "task": {"_name": "audio_finetuning", "normalize": False}}
    loaded = load_encoder(_save(tmp_path / "wav2vec_small_960h.pt", tuned, cfg=cfg))
    assert np.abs(extract_features(jfk, loaded, 3) - _reference(ref, jfk, 3)).max() < TOL


def test_import_local_weights_identifies_a_fairseq_checkpoint(tmp_path: Path, fake_fairseq: type) -> None:
    ref = _torchaudio_model(large=False)
    path = _save(tmp_path / "hubert_base_ls960.pt", _fairseq_state(ref, large=False),
                 cfg={"model": _model_settings(large=False), "task": {"normalize": False}})
    kind, fmt, loaded = identify(path)
    assert (kind, fmt) == ("hubert", "fairseq") and loaded.model.cfg.num_hidden_layers == 3


class _Payload:
    def __init__(self, func: object, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple:
        return self.func, (self.arg,)


@pytest.mark.parametrize("func", ["os.system", "builtins.eval", "subprocess.getoutput"])
def test_a_checkpoint_that_asks_to_run_code_is_refused(tmp_path: Path, func: str) -> None:
    import builtins
    import os
    import subprocess

    marker = tmp_path / "ran"
    target, command = {"os.system": (os.system, f"touch '{marker}'"),
                       "builtins.eval": (builtins.eval, f"open({str(marker)!r}, 'w')"),
                       "subprocess.getoutput": (subprocess.getoutput, f"touch '{marker}'")}[func]
    path = tmp_path / "hubert_base_ls960.pt"
    torch.save({"args": None, "cfg": {"model": _Payload(target, command)},
                "model": {"feature_extractor.conv_layers.0.0.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match=r"asks to run .* no model checkpoint needs"):
        load_encoder(path)
    assert not marker.exists()


def test_settings_that_do_not_fit_are_refused(tmp_path: Path, fake_fairseq: type) -> None:
    ref = _torchaudio_model(large=False)
    state = _fairseq_state(ref, large=False)
    for change, message in (({"conv_feature_layers": "[(32, 10, 5)] * 7"}, "do not match"),
                            ({"conv_feature_layers": "__import__('os').system('true')"}, "cannot be read"),
                            ({"conv_feature_layers": "[(32, 10, 5)] * 10**9"}, "cannot be read"),
                            ({"activation_fn": "relu"}, "activation_fn"),
                            ({"layer_type": "conformer"}, "layer_type"),
                            ({"encoder_attention_heads": 5}, "5 attention heads")):
        cfg = {"model": _model_settings(large=False) | change, "task": {}}
        with pytest.raises(CheckpointError, match=message):
            load_encoder(_save(tmp_path / "bad.pt", state, cfg=cfg))


def test_conv_layer_specs() -> None:
    assert conv_layers("[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]") == (
        [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2)
    assert conv_layers("2 * [(8, 3, 1)]") == [(8, 3, 1)] * 2
    for bad in ("[]", "[(1, 2)]", "[(0, 1, 1)]", "[(1, 1, 1.5)]", "[x]", "[(1,1,1)] * -1", "(1, 1, 1)"):
        with pytest.raises(ValueError):
            conv_layers(bad)


def _bomb(levels: int) -> dict:
    """A settings dict of `levels` levels, each naming the next twice: 2**levels paths in a few hundred bytes."""
    inner: dict = {"x": 1}
    for _ in range(levels):
        inner = {"a": inner, "b": inner}
    return inner


def test_settings_built_to_exhaust_memory_or_time(tmp_path: Path, fake_fairseq: type) -> None:
    """From the user test: shared and cyclic settings, chained repeats and a stride of 1 are said at once."""
    ref = _torchaudio_model(large=False)
    state = _fairseq_state(ref, large=False)
    shared = _model_settings(large=False) | {"extra": _bomb(40)}
    cyclic = _model_settings(large=False)
    cyclic["self"] = cyclic
    for settings in (shared, cyclic):  # both load, quickly and in little memory
        loaded = load_encoder(_save(tmp_path / "odd.pt", state, cfg={"model": settings, "task": {}}))
        assert loaded.model.cfg.num_attention_heads == 4
    for change, message in (({"conv_feature_layers": "[(32,10,5)] * 64 * 64 * 64 * 64 * 64"}, "cannot be read"),
                            ({"conv_feature_layers": "[(32,10,1)] + [(32,3,1)] * 4 + [(32,2,1)] * 2"},
                             "step 1 samples per frame"),
                            ({"encoder_attention_heads": "4"}, "expected int"),
                            ({"encoder_attention_heads": True}, "expected int"),
                            ({"layer_norm_first": 1}, "expected bool"),
                            ({"encoder_attention_heads": None}, "do not give encoder_attention_heads"),
                            ({"pos_conv_depth": torch.tensor([1, 2])}, "expected int")):
        cfg = {"model": _model_settings(large=False) | change, "task": {}}
        with pytest.raises(CheckpointError, match=message):
            load_encoder(_save(tmp_path / "bad.pt", state, cfg=cfg))
    with pytest.raises(CheckpointError, match="no model settings"):
        load_encoder(_save(tmp_path / "bare.pt", state, cfg={}))
    torch.save({"model": state}, tmp_path / "nothing.pt")  # no cfg or args at all
    with pytest.raises(CheckpointError, match="no model settings"):
        load_encoder(tmp_path / "nothing.pt")


def test_tensors_that_are_not_plain_weights(tmp_path: Path, fake_fairseq: type) -> None:
    ref = _torchaudio_model(large=False)
    good = _fairseq_state(ref, large=False)
    cfg = {"model": _model_settings(large=False), "task": {}}
    conv0, pos_v = "feature_extractor.conv_layers.0.0.weight", "encoder.pos_conv.0.weight_v"
    for change, message in (({5: torch.zeros(3)}, "names a tensor 5"),
                            ({conv0: torch.zeros(32, 10)}, "shapes of a HuBERT"),
                            ({pos_v: torch.zeros(64)}, "positional convolution"),
                            ({conv0: good[conv0].to(torch.float8_e4m3fn)}, "float8"),
                            ({conv0: good[conv0].to_sparse()}, "sparse"),
                            ({conv0: torch.zeros(32, 1, 10, device="meta")}, "meta")):
        with pytest.raises(CheckpointError, match=message):
            load_encoder(_save(tmp_path / "bad.pt", good | change, cfg=cfg))


def test_import_says_a_code_running_pt_is_refused(tmp_path: Path) -> None:
    import os

    path = tmp_path / "hubert.pt"
    torch.save({"args": None, "cfg": {"model": _Payload(os.system, "true")}, "model": {}}, path)
    with pytest.raises(CheckpointError, match="asks to run posix.system"):
        identify(path)
