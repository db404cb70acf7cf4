"""EnCodec weights in both published layouts -> our `Encodec` module, weight norm folded at load time.

- original release: `encodec_24khz-d7cc33bc.th`, `encodec_48khz-7e698e3e.th` (a plain state dict,
  `encoder.model.{i}.conv.conv.weight_g/_v`, `quantizer.vq.layers.{k}._codebook.embed`)
- Hugging Face: `facebook/encodec_24khz`, `facebook/encodec_48khz` (config.json + model.safetensors,
  `encoder.layers.{i}.conv.weight_g/_v` or `...conv.parametrizations.weight.original0/1`)
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import torch

from studio.hub.checkpoint_io import (
    check_finite,
    first_line,
    folder_listing,
    is_repo_id,
    load_safetensors,
    looks_like_path,
    not_a_path,
    read_json,
    state_dict_of,
    torch_load,
)
from studio.hub.ctranslate2 import CheckpointError
from studio.hub.download import DownloadProgress, download_files
from studio.models.encodec import ENCODEC_24KHZ, ENCODEC_48KHZ, Encodec, EncodecConfig

HF_REPOS = {"24khz": "facebook/encodec_24khz", "48khz": "facebook/encodec_48khz"}
# Training-time statistics of the codebooks: not needed to encode or decode.
_TRAINING_ONLY = re.compile(r"\.(inited|cluster_size|embed_avg)$")


def fold_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """weight = g * v / ||v|| over every dim but the first: the same kernel torch's weight_norm runs."""
    return torch._weight_norm(v, g, 0)


def _fold_all(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        for g_suffix, v_suffix in ((".weight_g", ".weight_v"),
                                   (".parametrizations.weight.original0", ".parametrizations.weight.original1")):
            if name.endswith(g_suffix):
                base = name[: -len(g_suffix)]
                out[base + ".weight"] = fold_weight_norm(t.float(), state[base + v_suffix].float())
                break
            if name.endswith(v_suffix):
                break
        else:
            out[name] = t
    return out


def from_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Release names -> ours (a plain renaming table, then weight norm folded)."""
    renamed = {}
    for name, t in state.items():
        if _TRAINING_ONLY.search(name):
            continue
        new = (name.replace("encoder.model.", "encoder.layers.").replace("decoder.model.", "decoder.layers.")
               .replace(".conv.conv.", ".conv.").replace(".convtr.convtr.", ".conv.")
               .replace(".conv.norm.", ".norm.").replace(".convtr.norm.", ".norm."))
        new = re.sub(r"^quantizer\.vq\.layers\.(\d+)\._codebook\.", r"quantizer.layers.\1.", new)
        renamed[new] = t
    return _fold_all(renamed)


def from_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for name, t in state.items():
        if _TRAINING_ONLY.search(name):
            continue
        renamed[re.sub(r"^quantizer\.layers\.(\d+)\.codebook\.", r"quantizer.layers.\1.", name)] = t
    return _fold_all(renamed)


_TH_EXPECTED = "an EnCodec release checkpoint (a state dict like encodec_24khz-d7cc33bc.th)"
_TH_REMEDY = ("Pick encodec_24khz-d7cc33bc.th or encodec_48khz-7e698e3e.th, or a Hugging Face facebook/encodec_* "
              "folder (config.json + model.safetensors).")
_HF_REMEDY = "Pick a Hugging Face EnCodec folder (facebook/encodec_24khz or _48khz: config.json + model.safetensors)."


def config_from_hf(cfg: dict) -> EncodecConfig:
    """Our config from a Hugging Face config.json; a config of another model is a CheckpointError."""
    kind = cfg.get("model_type")
    if kind is not None and kind != "encodec":
        raise CheckpointError(f"config.json describes a Hugging Face '{kind}' model, not EnCodec.", _HF_REMEDY)
    try:
        return _config_from_hf(cfg)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError) as e:
        raise CheckpointError(f"config.json is not a complete EnCodec configuration ({first_line(e)}).",
                              _HF_REMEDY) from e


def _config_from_hf(cfg: dict) -> EncodecConfig:
    ratios = tuple(cfg.get("upsampling_ratios", (8, 5, 4, 2)))
    frame_rate = math.ceil(cfg["sampling_rate"] / math.prod(ratios))
    bandwidths = tuple(float(b) for b in cfg["target_bandwidths"])
    return EncodecConfig(sample_rate=cfg["sampling_rate"], channels=cfg["audio_channels"],
                         causal=cfg.get("use_causal_conv", True), norm=cfg.get("norm_type", "weight_norm"),
                         normalize=cfg.get("normalize", False), segment=cfg.get("chunk_length_s"),
                         overlap=cfg.get("overlap") or 0.01, ratios=ratios, n_filters=cfg.get("num_filters", 32),
                         dimension=cfg.get("hidden_size", 128), n_q=int(1000 * bandwidths[-1] // (frame_rate * 10)),
                         bins=cfg.get("codebook_size", 1024), bandwidths=bandwidths)


def config_from_state(state: dict[str, torch.Tensor]) -> EncodecConfig:
    """The release checkpoints carry no config: stereo input and GroupNorm mean the 48 kHz model."""
    first = state.get("encoder.layers.0.conv.weight")
    if first is None or first.ndim != 3:
        names = ", ".join(list(state)[:3])
        raise CheckpointError(f"The checkpoint holds no EnCodec encoder (found {names or 'no tensors'}…); expected "
                              f"{_TH_EXPECTED}.", _TH_REMEDY)
    return ENCODEC_48KHZ if first.shape[1] == 2 or "encoder.layers.0.norm.weight" in state else ENCODEC_24KHZ


def build_model(cfg: EncodecConfig, state: dict[str, torch.Tensor]) -> Encodec:
    with torch.device("meta"):  # no random init of a model the checkpoint replaces: it cost the model's size again
        model = Encodec(cfg)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        what = f"lacks {missing[0]}" if missing else f"has an unexpected tensor {unexpected[0]}"
        khz = cfg.sample_rate // 1000
        raise CheckpointError(f"The EnCodec checkpoint does not fit the {khz} kHz model: it {what}.",
                              "Use an EnCodec 24 kHz or 48 kHz checkpoint (original .th or Hugging Face folder).")
    for k, t in state.items():
        if t.shape != expected[k].shape:
            raise CheckpointError(f"Tensor {k} has shape {tuple(t.shape)}, expected {tuple(expected[k].shape)}.",
                                  "The file may belong to another model.")
    check_finite(state, "EnCodec checkpoint")
    model.load_state_dict({k: t.float().contiguous() for k, t in state.items()}, strict=True, assign=True)
    return model.eval()


def load_original(path: Path) -> Encodec:
    obj = torch_load(path, _TH_EXPECTED, _TH_REMEDY)
    state = from_original(state_dict_of(obj, path, _TH_EXPECTED, _TH_REMEDY))
    del obj  # the weight-norm halves, folded into `state`, are released before the model is built
    return build_model(config_from_state(state), state)


def load_hf(folder: Path) -> Encodec:
    cfg = config_from_hf(read_json(folder / "config.json", "a Hugging Face EnCodec config", _HF_REMEDY))
    if (folder / "model.safetensors").exists() or not (folder / "pytorch_model.bin").exists():
        state = load_safetensors([folder / "model.safetensors"], _HF_REMEDY)
    else:
        bin_path = folder / "pytorch_model.bin"
        state = state_dict_of(torch_load(bin_path, "EnCodec tensors", _HF_REMEDY), bin_path, "EnCodec tensors",
                              _HF_REMEDY)
    return build_model(cfg, from_hf(state))


def load_local_encodec(path: Path) -> Encodec:
    """An EnCodec model from a release .th file or a Hugging Face folder on disk."""
    if path.is_file() and (path.suffix == ".safetensors" or path.name in ("config.json", "pytorch_model.bin")):
        path = path.parent
    if path.is_file():
        return load_original(path)
    if (path / "config.json").exists():
        return load_hf(path)
    raise CheckpointError(f"'{path}' holds no EnCodec model I can read: it holds {folder_listing(path)}.",
                          "Pick a release .th file or a folder with config.json + model.safetensors.")


def load_encodec(source: str | os.PathLike = "24khz", cache_dir: str | os.PathLike | None = None,
                 progress: Callable[[DownloadProgress], None] | None = None,
                 cancel: threading.Event | None = None) -> Encodec:
    """`source`: "24khz" / "48khz" (download once from the Hub), a Hub repo id, a release .th file, or a Hugging
    Face folder. Only an argument that looks like a path (a separator, a leading . or ~, a weights suffix) is
    looked up on disk."""
    source = os.fspath(source)
    key = source.lower().removeprefix("encodec_").replace(" ", "")
    if key not in HF_REPOS and looks_like_path(source):
        path = Path(source).expanduser()
        if path.exists():
            return load_local_encodec(path)
        if not is_repo_id(source):
            raise not_a_path(source, "codec file or folder", "Check the path, or use 24khz or 48khz.")
    repo = HF_REPOS.get(key, source)
    if "/" not in repo:
        hint = f" To use the file or folder '{source}' here, write ./{source}." if Path(source).exists() else ""
        raise CheckpointError(f"Unknown codec '{source}'.", f"Use 24khz, 48khz, a Hub repo id, or a path.{hint}")
    files = download_files(repo, ["config.json", "model.safetensors"], cache_dir=cache_dir, progress=progress,
                           cancel=cancel)
    return load_hf(files["model.safetensors"].parent)
