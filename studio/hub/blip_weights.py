"""BLIP captioning weights in the Hugging Face layout (`Salesforce/blip-image-captioning-base` / `-large`:
config.json + model.safetensors, or pytorch_model.bin read with weights_only) -> studio.models.blip.Blip.
The tensors already carry our module names; every key and shape is checked before use."""

from __future__ import annotations

import os
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
from studio.models.blip import Blip, BlipConfig, BlipTextConfig, BlipVisionConfig

HF_REPOS = {"base": "Salesforce/blip-image-captioning-base", "large": "Salesforce/blip-image-captioning-large"}
# what a caption needs besides the weights: the image preprocessing and the tokenizer
SIDE_FILES = ["config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json"]
_REMEDY = ("Pick a Hugging Face BLIP captioning folder (Salesforce/blip-image-captioning-base or -large: "
           "config.json + model.safetensors).")


def config_from_hf(cfg: dict) -> BlipConfig:
    kind = cfg.get("model_type")
    if kind is not None and kind != "blip":
        raise CheckpointError(f"config.json describes a Hugging Face '{kind}' model, not BLIP.", _REMEDY)
    try:
        v, t = cfg.get("vision_config") or {}, cfg.get("text_config") or {}
        vision = BlipVisionConfig(**{k: type(getattr(BlipVisionConfig(), k))(v[k])
                                     for k in BlipVisionConfig.__dataclass_fields__ if k in v})
        text = BlipTextConfig(**{k: type(getattr(BlipTextConfig(), k))(t[k])
                                 for k in BlipTextConfig.__dataclass_fields__ if k in t and t[k] is not None})
    except (TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"config.json is not a complete BLIP configuration ({first_line(e)}).", _REMEDY) from e
    if "encoder_hidden_size" not in t:
        text = BlipTextConfig(**{**text.__dict__, "encoder_hidden_size": vision.hidden_size})
    return BlipConfig(vision, text)


def build_model(cfg: BlipConfig, state: dict[str, torch.Tensor]) -> Blip:
    with torch.device("meta"):  # no random init of weights the checkpoint replaces
        model = Blip(cfg)
    expected = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("text_encoder.")}  # BLIP-ITM parts, unused here
    # safetensors keep one name of a tied tensor: the output projection is the word embeddings, its bias the head's
    ties = {"text_decoder.cls.predictions.decoder.weight": "text_decoder.bert.embeddings.word_embeddings.weight",
            "text_decoder.cls.predictions.decoder.bias": "text_decoder.cls.predictions.bias"}
    for name, source in ties.items():
        if name not in state and source in state:
            state[name] = state[source]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        what = f"lacks {missing[0]}" if missing else f"has an unexpected tensor {unexpected[0]}"
        raise CheckpointError(f"The BLIP checkpoint does not fit its config.json: it {what}.", _REMEDY)
    for k, t in state.items():
        if t.shape != expected[k].shape:
            raise CheckpointError(f"Tensor {k} has shape {tuple(t.shape)}, expected {tuple(expected[k].shape)}.",
                                  "The file may belong to another model.")
    check_finite(state, "BLIP checkpoint")
    model.load_state_dict({k: t.float().contiguous() for k, t in state.items()}, strict=True, assign=True)
    tied = model.text_decoder.cls.predictions
    tied.decoder.weight = model.text_decoder.bert.embeddings.word_embeddings.weight  # assign replaced the ties
    tied.decoder.bias = tied.bias
    return model.eval()


def load_folder(folder: Path) -> Blip:
    cfg = config_from_hf(read_json(folder / "config.json", "a Hugging Face BLIP config", _REMEDY))
    if (folder / "model.safetensors").exists() or not (folder / "pytorch_model.bin").exists():
        state = load_safetensors([folder / "model.safetensors"], _REMEDY)
    else:
        path = folder / "pytorch_model.bin"
        state = state_dict_of(torch_load(path, "BLIP tensors", _REMEDY), path, "BLIP tensors", _REMEDY)
    return build_model(cfg, state)


def load_blip(source: str | os.PathLike = "base", cache_dir: str | os.PathLike | None = None,
              progress: Callable[[DownloadProgress], None] | None = None,
              cancel: threading.Event | None = None) -> tuple[Blip, Path]:
    """`source`: base / large (downloaded once), a Hub repo id, or a local folder. Returns the model and the
    folder that holds its preprocessing and tokenizer files."""
    source = os.fspath(source)
    path = Path(source).expanduser()
    if source not in HF_REPOS and looks_like_path(source) and (path.exists() or not is_repo_id(source)):
        if not path.exists():
            raise not_a_path(source, "captioning model folder", "Check the path, or use base or large.")
        if path.is_file():
            path = path.parent
        if not (path / "config.json").exists():
            raise CheckpointError(f"'{path}' holds no BLIP model: it holds {folder_listing(path)}.", _REMEDY)
        return load_folder(path), path
    repo = HF_REPOS.get(source, source)
    if "/" not in repo:
        hint = f" To use the folder '{source}' here, write ./{source}." if Path(source).exists() else ""
        raise CheckpointError(f"Unknown captioning model '{source}'.",
                              f"Use base, large, a Hub repo id or a folder.{hint}")
    files = download_files(repo, [*SIDE_FILES, "model.safetensors"], cache_dir=cache_dir, progress=progress,
                           cancel=cancel)
    folder = files["model.safetensors"].parent
    return load_folder(folder), folder
