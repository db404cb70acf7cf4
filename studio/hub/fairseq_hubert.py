"""fairseq's original HuBERT and wav2vec 2.0 checkpoints (`hubert_base_ls960.pt`, `hubert_large_ll60k.pt`,
`wav2vec_small.pt`, and their fine-tuned `w2v_encoder.` variants), read with weights_only through stand-ins.

Such a file is a training checkpoint: {"args" or "cfg": the run's settings, "model": the state dict, plus
optimizer history and task state}. The weights are renamed to the Hugging Face layout; the sizes come from the
tensors, and what tensors cannot tell (the convolutions' strides, attention heads, pre- or post-LN, the input
normalisation) from the settings.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from studio.hub.ctranslate2 import CheckpointError
from studio.hub.stand_ins import UnsafeCheckpointError, load_with_stand_ins, plain
from studio.models.hubert import SpeechEncoderConfig

_EXPECTED = "HuBERT / wav2vec 2.0 weights (a torchaudio .pth or a fairseq .pt)"
# fairseq module names -> Hugging Face's; first match wins (anchored at the start of the key)
_RENAMES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"feature_extractor\.conv_layers\.0\.2\.(weight|bias)$", r"feature_extractor.conv_layers.0.layer_norm.\1"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.", r"feature_extractor.conv_layers.\1.layer_norm."),
    (r"post_extract_proj\.", "feature_projection.projection."),
    (r"layer_norm\.(weight|bias)$", r"feature_projection.layer_norm.\1"),
    (r"encoder\.pos_conv\.0\.", "encoder.pos_conv_embed.conv."),
    (r"encoder\.layers\.(\d+)\.self_attn\.", r"encoder.layers.\1.attention."),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"encoder.layers.\1.layer_norm."),
    (r"encoder\.layers\.(\d+)\.fc1\.", r"encoder.layers.\1.feed_forward.intermediate_dense."),
    (r"encoder\.layers\.(\d+)\.fc2\.", r"encoder.layers.\1.feed_forward.output_dense."),
]
_RENAMES_RE = [(re.compile(p), r) for p, r in _RENAMES]
# training-only parts: masking, targets, the quantizer, a fine-tuned model's output projection
_DROPPED = re.compile(r"(mask_emb|label_embs_concat|final_proj\.|quantizer\.|project_q\.|target_glu\.|proj\.)")
_FINE_TUNED = ("w2v_encoder.w2v_model.", "w2v_model.")
_MAX_CONVS = 64  # released models have 7


def is_fairseq_checkpoint(obj: object) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("model"), dict)
            and any(isinstance(k, str) and "feature_extractor.conv_layers." in k for k in obj["model"]))


def is_fairseq_file(path: Path, remedy: str) -> bool:
    """True for a fairseq HuBERT / wav2vec 2.0 checkpoint (a cheap look: the tensors are mapped, not read)."""
    try:
        return is_fairseq_checkpoint(read_checkpoint(path, remedy))
    except UnsafeCheckpointError:
        raise  # said as it is, not as "not a Whisper checkpoint" by the next loader tried
    except CheckpointError:
        return False


def read_checkpoint(path: Path, remedy: str) -> object:
    """The file as torch.load gives it, stand-ins for the settings' classes (see studio.hub.stand_ins)."""
    return load_with_stand_ins(path, _EXPECTED, remedy)


def rename(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, t in state.items():
        if not isinstance(t, torch.Tensor):
            continue
        for prefix in _FINE_TUNED:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key.startswith("w2v_encoder.") or _DROPPED.match(key):
            continue
        for pattern, repl in _RENAMES_RE:
            new = pattern.sub(repl, key, count=1) if pattern.match(key) else None
            if new is not None:
                key = new
                break
        out[key] = t
    return out


def _settings(ckpt: dict) -> tuple[dict, dict]:
    """(model settings, task settings): `cfg` ({"model": ..., "task": ...}) since 2021, a flat `args` before;
    a fine-tuned model's are those of the pre-trained model it wraps (`w2v_args`)."""
    cfg, args = plain(ckpt.get("cfg")), plain(ckpt.get("args"))
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        model, task = cfg["model"], cfg.get("task") if isinstance(cfg.get("task"), dict) else {}
    else:
        model = task = args if isinstance(args, dict) else {}
    inner = model.get("w2v_args")
    if isinstance(inner, dict):
        inner_model = inner.get("model") if isinstance(inner.get("model"), dict) else inner
        inner_task = inner.get("task") if isinstance(inner.get("task"), dict) else inner
        model, task = inner_model, {**inner_task, **{k: v for k, v in task.items() if k == "normalize"}}
    return model, task


def conv_layers(text: str) -> list[tuple[int, int, int]]:
    """fairseq's `conv_feature_layers`, "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2", read without eval:
    only list and tuple literals of integers, + and * by an integer."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            total = value(node.left) + value(node.right)
            if isinstance(total, list) and len(total) > _MAX_CONVS:
                raise ValueError(f"more than {_MAX_CONVS} layers")
            return total
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            left, right = value(node.left), value(node.right)
            if isinstance(left, int):
                left, right = right, left
            if not isinstance(left, list) or not isinstance(right, int) or not 0 <= len(left) * right <= _MAX_CONVS:
                raise ValueError(f"a repeat past {_MAX_CONVS} layers")
            return left * right
        if isinstance(node, ast.List):
            if len(node.elts) > _MAX_CONVS:
                raise ValueError(f"more than {_MAX_CONVS} layers")
            return [value(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        raise ValueError(f"unexpected {type(node).__name__}")

    layers = value(ast.parse(text.strip(), mode="eval").body)
    if not isinstance(layers, list) or not layers or not all(
            isinstance(t, tuple) and len(t) == 3 and all(isinstance(v, int) and v > 0 for v in t) for t in layers):
        raise ValueError("not a list of (dim, kernel, stride)")
    return layers


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _setting(settings: dict, key: str, kind: type, remedy: str) -> Any:
    """settings[key] if it is there and of `kind` (an int is no bool here), None if absent; else refused."""
    value = settings.get(key)
    if value is not None and (type(value) is not kind):
        raise CheckpointError(f"The checkpoint's setting {key} is {_short(value)}; expected {kind.__name__}.", remedy)
    return value


def config(ckpt: dict, tensors_cfg: SpeechEncoderConfig, remedy: str) -> tuple[SpeechEncoderConfig, bool]:
    """The encoder's configuration (sizes from the tensors, the rest from the settings) and whether the input is
    normalised."""
    model, task = _settings(ckpt)
    if not model:
        raise CheckpointError("The checkpoint carries no model settings (its cfg and args are empty); the attention "
                              "heads and strides cannot be read off the tensors.", remedy)
    for key, allowed in (("activation_fn", "gelu"), ("layer_type", "transformer"), ("pos_conv_depth", 1)):
        value = _setting(model, key, type(allowed), remedy)
        if value is not None and value != allowed:
            raise CheckpointError(f"The checkpoint's model uses {key} = {_short(value)}; only {allowed!r} is built "
                                  "here.", remedy)
    out = tensors_cfg
    spec = _setting(model, "conv_feature_layers", str, remedy)
    if spec is not None:
        try:
            layers = conv_layers(spec)
        except (ValueError, SyntaxError, RecursionError, MemoryError) as e:
            raise CheckpointError(f"The checkpoint's conv_feature_layers {spec[:80]!r} cannot be read ({e}).",
                                  remedy) from None
        if [(d, k) for d, k, _ in layers] != list(zip(out.conv_dim, out.conv_kernel, strict=True)):
            raise CheckpointError("The checkpoint's conv_feature_layers do not match its convolution tensors.",
                                  remedy)
        out = replace(out, conv_stride=tuple(s for _, _, s in layers))
    heads = _setting(model, "encoder_attention_heads", int, remedy)
    if heads is None:  # the tensors cannot tell, and a guess gives other features without a word
        raise CheckpointError("The checkpoint's settings do not give encoder_attention_heads.", remedy)
    if heads <= 0 or out.hidden_size % heads:
        raise CheckpointError(f"The checkpoint asks for {heads} attention heads of {out.hidden_size} dimensions.",
                              remedy)
    out = replace(out, num_attention_heads=heads)
    first = _setting(model, "layer_norm_first", bool, remedy)
    if first is not None:
        out = replace(out, do_stable_layer_norm=first)
    normalize = _setting(task, "normalize", bool, remedy)
    return out, normalize if normalize is not None else out.feat_extract_norm == "layer"
