"""BLIP image captioner (Hugging Face `BlipForConditionalGeneration` layout): a ViT encodes the image into patch
embeddings, a BERT-style decoder writes the caption with causal self-attention and cross-attention over the
patches. Module names follow the checkpoint's keys (`vision_model.*`, `text_decoder.*`) so safetensors load with
no renaming. Self-attention keys/values are cached per step; cross-attention keys/values are computed once per
image; cross-attention weights can be captured per layer and head, as in studio.models.whisper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.models.bfloat16 import bfloat16_pays
from studio.models.int8 import int8_linears
from studio.models.rowmatmul import linear


@dataclass(frozen=True)
class BlipVisionConfig:
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    image_size: int = 384
    patch_size: int = 16
    layer_norm_eps: float = 1e-5

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass(frozen=True)
class BlipTextConfig:
    vocab_size: int = 30524
    hidden_size: int = 768
    encoder_hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    max_position_embeddings: int = 512
    layer_norm_eps: float = 1e-12
    bos_token_id: int = 30522
    sep_token_id: int = 102
    pad_token_id: int = 0


@dataclass(frozen=True)
class BlipConfig:
    vision: BlipVisionConfig = BlipVisionConfig()
    text: BlipTextConfig = BlipTextConfig()


def _heads(x: Tensor, n_head: int) -> Tensor:
    b, t, c = x.shape
    return x.view(b, t, n_head, c // n_head).transpose(1, 2)


# -- vision -----------------------------------------------------------------------------------------------------
class VisionEmbeddings(nn.Module):
    def __init__(self, cfg: BlipVisionConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, d))
        self.patch_embedding = nn.Conv2d(3, d, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.position_embedding = nn.Parameter(torch.zeros(1, cfg.grid ** 2 + 1, d))

    def forward(self, pixels: Tensor) -> Tensor:
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(pixels.shape[0], 1, -1)
        x = torch.cat([cls, patches], dim=1)
        return x + self.position_embedding[:, : x.shape[1]]


class VisionAttention(nn.Module):
    def __init__(self, cfg: BlipVisionConfig) -> None:
        super().__init__()
        self.n_head = cfg.num_attention_heads
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.projection = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = linear(self.qkv, x).view(b, t, 3, self.n_head, -1).permute(2, 0, 3, 1, 4)
        return linear(self.projection, F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, c))


class VisionMLP(nn.Module):
    def __init__(self, cfg: BlipVisionConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return linear(self.fc2, F.gelu(linear(self.fc1, x)))


class VisionLayer(nn.Module):
    def __init__(self, cfg: BlipVisionConfig) -> None:
        super().__init__()
        self.self_attn = VisionAttention(cfg)
        self.layer_norm1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.mlp = VisionMLP(cfg)
        self.layer_norm2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class VisionEncoder(nn.Module):
    def __init__(self, cfg: BlipVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VisionLayer(cfg) for _ in range(cfg.num_hidden_layers))


class VisionModel(nn.Module):
    def __init__(self, cfg: BlipVisionConfig) -> None:
        super().__init__()
        self.embeddings = VisionEmbeddings(cfg)
        self.encoder = VisionEncoder(cfg)
        self.post_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, pixels: Tensor) -> Tensor:
        """(B, 3, H, W) normalized pixels -> (B, 1 + patches, d): the class token, then the patches row by row."""
        x = self.embeddings(pixels)
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


# -- text decoder -------------------------------------------------------------------------------------------------
class TextEmbeddings(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # noqa: N815 - checkpoint name

    def forward(self, ids: Tensor, offset: int = 0) -> Tensor:
        pos = torch.arange(offset, offset + ids.shape[1], device=ids.device)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos)[None])


class SelfProjections(nn.Module):
    """BERT's `attention.self` (query/key/value); `kv_width` is the encoder's width for cross-attention."""

    def __init__(self, width: int, kv_width: int) -> None:
        super().__init__()
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(kv_width, width)
        self.value = nn.Linear(kv_width, width)


class OutputNorm(nn.Module):
    """BERT's post-norm residual: LayerNorm(dense(x) + residual)."""

    def __init__(self, width_in: int, width: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(width_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)  # noqa: N815 - checkpoint name

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(linear(self.dense, x) + residual)


class TextAttention(nn.Module):
    def __init__(self, cfg: BlipTextConfig, cross: bool) -> None:
        super().__init__()
        self.n_head = cfg.num_attention_heads
        self.cross = cross
        self.self = SelfProjections(cfg.hidden_size, cfg.encoder_hidden_size if cross else cfg.hidden_size)
        self.output = OutputNorm(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: Tensor, cache: dict, image: Tensor | None = None,
                capture: list[Tensor] | None = None) -> Tensor:
        """Self-attention (causal; keys/values appended to `cache`) or, with `image`, cross-attention over the
        image embeddings (keys/values computed once into `cache`). `capture` receives softmaxed weights
        (B, heads, T, keys)."""
        p = self.self
        q = _heads(linear(p.query, x), self.n_head)
        if self.cross:
            if "k" not in cache:
                cache["k"], cache["v"] = _heads(p.key(image), self.n_head), _heads(p.value(image), self.n_head)
            k, v = cache["k"], cache["v"]
        else:
            k, v = _heads(linear(p.key, x), self.n_head), _heads(linear(p.value, x), self.n_head)
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        causal = not self.cross and q.shape[2] > 1
        if causal and k.shape[2] != q.shape[2]:
            raise ValueError("a multi-token step after cached tokens is not supported")
        if capture is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            w = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
            if causal:
                w = w.masked_fill(torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=x.device).triu(1),
                                  float("-inf"))
            w = w.float().softmax(dim=-1).to(q.dtype)
            capture.append(w)
            o = w @ v
        b, h, t, d = o.shape
        return self.output(o.transpose(1, 2).reshape(b, t, h * d), x)


class Intermediate(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(linear(self.dense, x))


class TextLayer(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.attention = TextAttention(cfg, cross=False)
        self.crossattention = TextAttention(cfg, cross=True)
        self.intermediate = Intermediate(cfg)
        self.output = OutputNorm(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: Tensor, image: Tensor, cache: dict, capture: list[Tensor] | None) -> Tensor:
        x = self.attention(x, cache.setdefault("self", {}))
        x = self.crossattention(x, cache.setdefault("cross", {}), image, capture)
        return self.output(self.intermediate(x), x)


class TextEncoder(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(TextLayer(cfg) for _ in range(cfg.num_hidden_layers))


class Bert(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.embeddings = TextEmbeddings(cfg)
        self.encoder = TextEncoder(cfg)


class Transform(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # noqa: N815 - checkpoint name

    def forward(self, x: Tensor) -> Tensor:
        return self.LayerNorm(F.gelu(linear(self.dense, x)))


class Predictions(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.transform = Transform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.decoder.bias = self.bias  # one tensor under both names, as in the checkpoint

    def forward(self, x: Tensor) -> Tensor:
        return linear(self.decoder, self.transform(x))


class Heads(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.predictions = Predictions(cfg)


class TextDecoder(nn.Module):
    def __init__(self, cfg: BlipTextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.bert = Bert(cfg)
        self.cls = Heads(cfg)

    def forward(self, ids: Tensor, image: Tensor, cache: dict | None = None,
                capture: list[list[Tensor]] | None = None) -> Tensor:
        """Logits (B, T, vocab) for `ids` (B, T) after the tokens already in `cache` (a dict kept across steps)."""
        cache = {} if cache is None else cache
        offset = cache.get("length", 0)
        x = self.bert.embeddings(ids, offset)
        layers = cache.setdefault("layers", [{} for _ in self.bert.encoder.layer])
        for i, layer in enumerate(self.bert.encoder.layer):
            x = layer(x, image, layers[i], None if capture is None else capture[i])
        cache["length"] = offset + ids.shape[1]
        return self.cls.predictions(x)


class Blip(nn.Module):
    def __init__(self, cfg: BlipConfig = BlipConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.vision_model = VisionModel(cfg.vision)
        self.text_decoder = TextDecoder(cfg.text)
        # the output projection shares the word embeddings (as the checkpoint's tie_word_embeddings)
        self.text_decoder.cls.predictions.decoder.weight = self.text_decoder.bert.embeddings.word_embeddings.weight

    def encode(self, pixels: Tensor) -> Tensor:
        """Image embeddings, float32 for the decoder whatever the vision tower computes in (see make_fast)."""
        dtype = self.vision_model.embeddings.patch_embedding.weight.dtype
        return self.vision_model(pixels.to(dtype)).float()


PRECISIONS = ("float32", "fast")


def make_fast(model: Blip, device: str | torch.device) -> Blip:
    """Trade exactness for speed on a CPU, in place (float32 gives transformers' captions exactly). The vision
    tower multiplies 577 tokens through 12 layers once per image (compute bound): bfloat16 where this CPU runs it
    faster than float32 (studio.models.bfloat16; emulated bfloat16 is several times slower). Each decoder step
    reads every decoder weight for one token (memory bound): its linears become int8 with dynamic activation
    scales. On a GPU the model is left as it is."""
    if torch.device(device).type != "cpu":
        return model
    model.float()  # the int8 layers take float32 input, whatever the model came in (their own weights stay int8)
    if bfloat16_pays():
        model.vision_model.to(torch.bfloat16)
    int8_linears(model.text_decoder, inplace=True)
    return model


@dataclass
class Caption:
    tokens: list[int]  # generated ids after the prompt (the end token included when one was generated)
    cross_attention: list[Tensor] | None  # per generated token: (layers, heads, image tokens) of the query that
    # predicted it


@torch.inference_mode()
def greedy_caption(model: Blip, pixels: Tensor, prompt: list[int], max_new_tokens: int = 20,
                   capture: bool = False) -> Caption:
    """Greedy decoding as transformers' `generate()` does for BLIP with default settings: the prompt starts with
    the begin token, the argmax is appended until the end ([SEP]) token or `max_new_tokens` new ids."""
    image = model.encode(pixels)
    dec = model.text_decoder
    cache: dict = {}
    ids = torch.tensor([prompt], device=pixels.device)
    out: list[int] = []
    attn: list[Tensor] = []
    step = ids
    while len(out) < max_new_tokens:
        layers = [[] for _ in dec.bert.encoder.layer] if capture else None
        logits = dec(step, image, cache, layers)
        token = int(logits[0, -1].argmax())
        out.append(token)
        if layers is not None:
            attn.append(torch.stack([w[-1][0, :, -1] for w in layers]).float().cpu())
        if token == dec.cfg.sep_token_id:
            break
        step = torch.tensor([[token]], device=pixels.device)
    return Caption(out, attn if capture else None)
