"""HuBERT / wav2vec 2.0 weights -> studio.models.hubert.SpeechEncoder.

Accepted: a Hugging Face folder or repo (`facebook/hubert-base-ls960`, `facebook/hubert-large-ll60k`,
`facebook/wav2vec2-base`: config.json + model.safetensors or pytorch_model.bin, with or without the pre-training
heads), torchaudio's released state dicts (`hubert_fairseq_base_ls960.pth` and its siblings, read with
weights_only; the configuration is read off the tensors' shapes), and fairseq's original checkpoints
(`hubert_base_ls960.pt`, `wav2vec_small.pt`: studio.hub.fairseq_hubert). The positional convolution's weight norm is
folded into one weight at load. Every key and shape is checked before use.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from studio.hub import fairseq_hubert
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
from studio.hub.download import DownloadProgress, FileNotOnHubError, download_files
from studio.models.hubert import SpeechEncoder, SpeechEncoderConfig

HF_REPOS = {"hubert-base": "facebook/hubert-base-ls960", "hubert-large": "facebook/hubert-large-ll60k",
            "wav2vec2-base": "facebook/wav2vec2-base"}
_REMEDY = ("Use hubert-base, hubert-large, wav2vec2-base, a Hugging Face HuBERT / wav2vec 2.0 folder (config.json "
           "+ model.safetensors), a torchaudio .pth or a fairseq .pt of one.")
HOP = 320  # samples per frame at 16 kHz: 50 frames a second
_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
# pre-training parts the features do not use
_UNUSED = re.compile(r"(masked_spec_embed|mask_emb|quantizer\.|project_hid\.|project_q\.|final_proj\.|lm_head\."
                     r"|label_embs|label_embeddings|encoder\.pos_conv_embed\.conv\.bias_)")


@dataclass(frozen=True)
class LoadedEncoder:
    model: SpeechEncoder
    name: str              # hubert-base / a repo id / an absolute path: what codebook files record
    normalize: bool        # the checkpoint's preprocessing: zero mean, unit variance per input (do_normalize)


def config_from_hf(cfg: dict) -> SpeechEncoderConfig:
    kind = cfg.get("model_type")
    if kind not in (None, "hubert", "wav2vec2"):
        raise CheckpointError(f"config.json describes a Hugging Face '{kind}' model, not HuBERT or wav2vec 2.0.",
                              _REMEDY)
    for key, allowed in (("hidden_act", "gelu"), ("feat_extract_activation", "gelu")):
        if cfg.get(key, allowed) != allowed:
            raise CheckpointError(f"config.json asks for {key} = {cfg[key]!r}; only {allowed!r} is built here.",
                                  _REMEDY)
    if cfg.get("conv_pos_batch_norm") or cfg.get("add_adapter") or cfg.get("adapter_attn_dim"):
        raise CheckpointError("config.json asks for a variant (batch-normed positions or adapters) not built here.",
                              _REMEDY)
    fields = SpeechEncoderConfig.__dataclass_fields__
    try:
        values = {k: cfg[k] for k in fields if k in cfg and cfg[k] is not None}
        for k in ("conv_dim", "conv_kernel", "conv_stride"):
            if k in values:
                values[k] = tuple(int(v) for v in values[k])
        if kind == "wav2vec2":
            values["feat_proj_layer_norm"] = True  # always there in wav2vec 2.0
        out = SpeechEncoderConfig(**values)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"config.json is not a complete HuBERT configuration ({first_line(e)}).",
                              _REMEDY) from e
    if not (len(out.conv_dim) == len(out.conv_kernel) == len(out.conv_stride)) or out.feat_extract_norm not in (
            "group", "layer") or out.hidden_size % max(1, out.num_attention_heads):
        raise CheckpointError("config.json's convolution or attention sizes do not fit together.", _REMEDY)
    return out


def check_tensors(state: dict) -> None:
    """Plain dense float tensors in memory under string names; anything else (float8, sparse, meta, a number
    as a name) is said here, not found by a crash further on."""
    for name, t in state.items():
        if not isinstance(name, str):
            raise CheckpointError(f"The checkpoint names a tensor {name!r}; tensor names are text.", _REMEDY)
        if not isinstance(t, torch.Tensor) or t.layout != torch.strided or t.device.type != "cpu" \
                or t.dtype not in _DTYPES or t.is_quantized:
            what = (type(t).__name__ if not isinstance(t, torch.Tensor) else
                    f"{t.dtype}, {t.layout}, on {t.device.type}")
            raise CheckpointError(f"Tensor {name} is stored as {what}; HuBERT weights are dense float32, float16 "
                                  "or bfloat16 tensors.", _REMEDY)


def _fold_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """weight = g * v / |v|, the norm taken over every dimension but the kernel's (dim=2, as the release did)."""
    norm = v.double().pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    return (v.double() * (g.double() / norm)).float()


def _from_torchaudio(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, t in state.items():
        k = k.replace("encoder.feature_projection.", "feature_projection.")
        k = k.replace("encoder.transformer.", "encoder.")
        out[k] = t
    return out


def normalise_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hugging Face (with or without the `hubert.` / `wav2vec2.` prefix of the pre-training classes) or torchaudio
    key names -> ours, without the pre-training heads, the positional weight norm folded."""
    check_tensors(state)
    if any(k.startswith("encoder.transformer.") for k in state):
        state = _from_torchaudio(state)
    out: dict[str, torch.Tensor] = {}
    for k, t in state.items():
        for prefix in ("hubert.", "wav2vec2.", "model."):
            if k.startswith(prefix):
                k = k[len(prefix):]
                break
        if not _UNUSED.match(k):
            out[k] = t
    pos = "encoder.pos_conv_embed.conv."
    pairs = [(pos + "weight_g", pos + "weight_v"),
             (pos + "parametrizations.weight.original0", pos + "parametrizations.weight.original1")]
    for g, v in pairs:
        if g in out and v in out:
            if out[g].ndim != 3 or out[v].ndim != 3 or out[g].shape[2] != out[v].shape[2]:
                raise CheckpointError(f"The positional convolution's weights have shapes {tuple(out[g].shape)} and "
                                      f"{tuple(out[v].shape)}; not those of a HuBERT / wav2vec 2.0 model.", _REMEDY)
            out[pos + "weight"] = _fold_weight_norm(out.pop(g), out.pop(v))
    return out


def config_from_tensors(state: dict[str, torch.Tensor]) -> SpeechEncoderConfig:
    """For state dicts that come without a config (torchaudio's): sizes from shapes; the large models are the
    ones with LayerNorm in every convolution, and those are the pre-LN ones (true of every released HuBERT and
    wav2vec 2.0)."""
    try:
        conv_key = re.compile(r"feature_extractor\.conv_layers\.(\d+)\.conv\.weight")
        convs = sorted({int(m.group(1)) for k in state if (m := conv_key.match(k))})
        conv_w = [state[f"feature_extractor.conv_layers.{i}.conv.weight"] for i in convs]
        layers = len({m.group(1) for k in state if (m := re.match(r"encoder\.layers\.(\d+)\.", k))})
        hidden = state["feature_projection.projection.weight"].shape[0]
        pos = state["encoder.pos_conv_embed.conv.weight"]
        inter = state["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0]
        shapes = [tuple(w.shape[:3]) for w in conv_w] + [tuple(pos.shape[:3])]
    except KeyError as e:
        raise CheckpointError(f"The checkpoint lacks {e.args[0]}: not a HuBERT / wav2vec 2.0 model.", _REMEDY) from None
    except IndexError:  # a 0-d tensor where a matrix belongs
        shapes = [()]
    if not convs or any(len(shape) != 3 for shape in shapes) or pos.shape[1] == 0 or not layers:
        raise CheckpointError("The checkpoint's convolution tensors do not have the shapes of a HuBERT / wav2vec 2.0 "
                              "model.", _REMEDY)
    layer_norm_convs = "feature_extractor.conv_layers.1.layer_norm.weight" in state
    strides = (5,) + (2,) * (len(convs) - 1)  # every released model: 320 samples per frame
    return SpeechEncoderConfig(
        conv_dim=tuple(w.shape[0] for w in conv_w), conv_kernel=tuple(w.shape[2] for w in conv_w),
        conv_stride=strides, conv_bias="feature_extractor.conv_layers.0.conv.bias" in state,
        feat_extract_norm="layer" if layer_norm_convs else "group",
        feat_proj_layer_norm="feature_projection.layer_norm.weight" in state,
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64), intermediate_size=inter,
        num_conv_pos_embeddings=pos.shape[2], num_conv_pos_embedding_groups=hidden // pos.shape[1],
        do_stable_layer_norm=layer_norm_convs)


def build_model(cfg: SpeechEncoderConfig, state: dict[str, torch.Tensor]) -> SpeechEncoder:
    if cfg.hop != HOP:  # every released model; a stride of 1 would make 16,000 frames a second and never finish
        raise CheckpointError(f"The model's convolutions step {cfg.hop} samples per frame; HuBERT and wav2vec 2.0 "
                              f"step {HOP} (20 ms frames).", _REMEDY)
    try:
        with torch.device("meta"):  # no random init of weights the checkpoint replaces
            model = SpeechEncoder(cfg)
    except (ValueError, ZeroDivisionError, RuntimeError) as e:  # e.g. groups that do not divide the width
        raise CheckpointError(f"The model's sizes do not fit together ({first_line(e)}).", _REMEDY) from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        what = f"lacks {missing[0]}" if missing else f"has an unexpected tensor {unexpected[0]}"
        raise CheckpointError(f"The HuBERT / wav2vec 2.0 checkpoint does not fit its configuration: it {what}.",
                              _REMEDY)
    for k, t in state.items():
        if t.shape != expected[k].shape:
            raise CheckpointError(f"Tensor {k} has shape {tuple(t.shape)}, expected {tuple(expected[k].shape)}.",
                                  "The file may belong to another model.")
    check_finite(state, "HuBERT / wav2vec 2.0 checkpoint")
    model.load_state_dict({k: t.float().contiguous() for k, t in state.items()}, strict=True, assign=True)
    return model.eval()


def _normalize_flag(folder: Path, cfg_json: dict) -> bool:
    path = folder / "preprocessor_config.json"
    if path.exists():
        pre = read_json(path, "a Hugging Face feature-extractor config", _REMEDY)
        rate = pre.get("sampling_rate", 16_000)
        if not isinstance(rate, int) or isinstance(rate, bool) or rate != 16_000:
            raise CheckpointError(f"'{path}' asks for {rate!r} Hz input; these models take 16 kHz.", _REMEDY)
        normalize = pre.get("do_normalize", True)
        if not isinstance(normalize, bool):
            raise CheckpointError(f"'{path}' has do_normalize = {normalize!r}; expected true or false.", _REMEDY)
        return normalize
    # no preprocessing file: the large (LayerNorm) models were trained on normalised input, the base ones not
    return cfg_json.get("feat_extract_norm", "group") == "layer"


def load_folder(folder: Path, name: str) -> LoadedEncoder:
    cfg_json = read_json(folder / "config.json", "a Hugging Face HuBERT / wav2vec 2.0 config", _REMEDY)
    cfg = config_from_hf(cfg_json)
    if (folder / "model.safetensors").exists() or not (folder / "pytorch_model.bin").exists():
        state = load_safetensors([folder / "model.safetensors"], _REMEDY)
    else:
        path = folder / "pytorch_model.bin"
        state = state_dict_of(torch_load(path, "HuBERT tensors", _REMEDY), path, "HuBERT tensors", _REMEDY)
    return LoadedEncoder(build_model(cfg, normalise_keys(state)), name, _normalize_flag(folder, cfg_json))


def load_file(path: Path, name: str) -> LoadedEncoder:
    """A lone state dict (torchaudio's .pth, or a safetensors file beside no config), or a fairseq checkpoint."""
    if path.suffix == ".safetensors":
        state = load_safetensors([path], _REMEDY)
    else:
        obj = fairseq_hubert.read_checkpoint(path, _REMEDY)  # mapped: a training file's optimizer state is never read
        if fairseq_hubert.is_fairseq_checkpoint(obj):
            assert isinstance(obj, dict)
            check_tensors(obj["model"])
            state = normalise_keys({k: t.clone() for k, t in fairseq_hubert.rename(obj["model"]).items()})
            cfg, normalize = fairseq_hubert.config(obj, config_from_tensors(state), _REMEDY)
            return LoadedEncoder(build_model(cfg, state), name, normalize)
        # copied out of the mapping: a file changed or cut short under a running model would crash the process
        state = {k: t.clone() for k, t in state_dict_of(obj, path, "HuBERT tensors", _REMEDY).items()}
    state = normalise_keys(state)
    cfg = config_from_tensors(state)
    return LoadedEncoder(build_model(cfg, state), name, cfg.feat_extract_norm == "layer")


def model_identity(source: str | os.PathLike) -> str:
    """The name a codebook records for the model: an alias (hubert-base), a Hub repo id, or the real path of a
    local model's folder (or .pth file), so ./hb, hb/, /abs/hb and hb/config.json are one model."""
    text = os.fspath(source)
    if text in HF_REPOS:
        return text
    path = Path(text).expanduser()
    if looks_like_path(text) and (path.exists() or not is_repo_id(text)):
        if path.name in ("config.json", "model.safetensors", "pytorch_model.bin", "preprocessor_config.json"):
            path = path.parent
        return os.path.realpath(path)
    return next((alias for alias, repo in HF_REPOS.items() if repo == text), text)


def model_files(source: str | os.PathLike) -> list[Path]:
    """A local model's files (outputs must never replace them); none for a Hub model (its files are in the cache,
    where `studio units` writes nothing)."""
    path = Path(model_identity(source))
    if not path.is_absolute() or not path.exists():
        return []
    return [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]


def load_encoder(source: str | os.PathLike = "hubert-base", cache_dir: str | os.PathLike | None = None,
                 progress: Callable[[DownloadProgress], None] | None = None,
                 cancel: threading.Event | None = None) -> LoadedEncoder:
    """`source`: hubert-base / hubert-large / wav2vec2-base (downloaded once), a Hub repo id, a folder, or a file."""
    source = os.fspath(source)
    path = Path(source).expanduser()
    if source not in HF_REPOS and looks_like_path(source) and (path.exists() or not is_repo_id(source)):
        if not path.exists():
            raise not_a_path(source, "HuBERT / wav2vec 2.0 model", _REMEDY)
        if path.is_file() and path.name not in ("config.json", "model.safetensors", "pytorch_model.bin"):
            return load_file(path, model_identity(path))
        folder = path.parent if path.is_file() else path
        if not (folder / "config.json").exists():
            raise CheckpointError(f"'{folder}' holds no HuBERT model: it holds {folder_listing(folder)}.", _REMEDY)
        return load_folder(folder, model_identity(folder))
    repo = HF_REPOS.get(source, source)
    source = next((alias for alias, r in HF_REPOS.items() if r == repo), repo)  # one name per model
    if "/" not in repo:
        hint = f" To use the folder '{source}' here, write ./{source}." if Path(source).exists() else ""
        raise CheckpointError(f"Unknown speech-unit model '{source}'.",
                              f"Use {', '.join(HF_REPOS)}, a Hub repo id, a folder or a file.{hint}")
    fetch = {"cache_dir": cache_dir, "progress": progress, "cancel": cancel}
    try:
        files = download_files(repo, ["config.json", "model.safetensors"], **fetch)  # type: ignore[arg-type]
        weights = files["model.safetensors"]
    except FileNotOnHubError:  # older repos publish only the torch file (read with weights_only)
        files = download_files(repo, ["config.json", "pytorch_model.bin"], **fetch)  # type: ignore[arg-type]
        weights = files["pytorch_model.bin"]
    try:  # not every repo has one; load_folder then decides from the architecture
        download_files(repo, ["preprocessor_config.json"], **fetch)  # type: ignore[arg-type]
    except FileNotOnHubError:
        pass
    return load_folder(weights.parent, source)
