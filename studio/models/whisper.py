"""Whisper encoder-decoder (OpenAI layout): one block class for both stacks, KV cache, opt-in attention capture."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.models.derived import derived
from studio.models.kv_cache import LayerKV
from studio.models.rowmatmul import linear, split_product


@dataclass(frozen=True)
class WhisperDims:
    n_mels: int = 80
    n_audio_ctx: int = 1500
    n_audio_state: int = 384
    n_audio_head: int = 6
    n_audio_layer: int = 4
    n_vocab: int = 51864
    n_text_ctx: int = 448
    n_text_state: int = 384
    n_text_head: int = 6
    n_text_layer: int = 4

    @property
    def is_multilingual(self) -> bool:
        return self.n_vocab >= 51865

    @property
    def num_languages(self) -> int:
        return self.n_vocab - 51765 - int(self.is_multilingual)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _dims(width: int, heads: int, layers: int, text_layers: int | None = None, n_mels: int = 80,
          n_vocab: int = 51865) -> WhisperDims:
    return WhisperDims(n_mels=n_mels, n_audio_state=width, n_audio_head=heads, n_audio_layer=layers, n_vocab=n_vocab,
                       n_text_state=width, n_text_head=heads, n_text_layer=text_layers or layers)


# Every published size; the .en models differ only in vocabulary.
WHISPER_SIZES: dict[str, WhisperDims] = {
    "tiny": _dims(384, 6, 4),
    "base": _dims(512, 8, 6),
    "small": _dims(768, 12, 12),
    "medium": _dims(1024, 16, 24),
    "large-v1": _dims(1280, 20, 32),
    "large-v2": _dims(1280, 20, 32),
    "large-v3": _dims(1280, 20, 32, n_mels=128, n_vocab=51866),
    "large-v3-turbo": _dims(1280, 20, 32, text_layers=4, n_mels=128, n_vocab=51866),
}
for _name in ("tiny", "base", "small", "medium"):
    WHISPER_SIZES[f"{_name}.en"] = WhisperDims(**{**WHISPER_SIZES[_name].to_dict(), "n_vocab": 51864})
WHISPER_SIZES["large"] = WHISPER_SIZES["large-v3"]
WHISPER_SIZES["turbo"] = WHISPER_SIZES["large-v3-turbo"]


def sinusoids(length: int, channels: int, max_timescale: float = 10000) -> Tensor:
    """Sinusoidal positions of the audio encoder, (length, channels)."""
    # computed on the CPU even inside `with torch.device("meta")` (loading): meta math imports torch's Python meta
    # kernels, 150 MB of resident memory, for a small table the checkpoint replaces anyway
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2, device="cpu"))
    scaled_time = torch.arange(length, device="cpu")[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


class AttentionCapture:
    """Collects softmaxed attention weights when passed to a forward; each entry is (batch, heads, queries, keys)."""

    def __init__(self) -> None:
        self.cross: dict[int, list[Tensor]] = {}

    def add(self, layer: int, weights: Tensor) -> None:
        self.cross.setdefault(layer, []).append(weights)

    def stacked(self) -> Tensor:
        """(layers, batch, heads, queries, keys) with the query steps of every call concatenated."""
        return torch.stack([torch.cat(self.cross[i], dim=2) for i in sorted(self.cross)])


class MultiHeadAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def _heads(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, -1).transpose(1, 2)

    def forward(self, x: Tensor, xa: Tensor | None = None, cache: LayerKV | dict | None = None,
                causal: bool = False, capture: list[Tensor] | None = None) -> Tensor:
        """x (B, T, C). Self-attention when `xa` is None, else cross-attention over `xa` (B, S, C).

        `cache`: for self-attention a LayerKV the new positions are appended to; for cross-attention a dict that
        keeps the keys/values of `xa`, computed once."""
        q = self._heads(linear(self.query, x))
        if xa is None:
            k, v = self._heads(linear(self.key, x)), self._heads(linear(self.value, x))
            if isinstance(cache, LayerKV):
                k, v = cache.append(k, v)
        elif isinstance(cache, dict) and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = self._heads(linear(self.key, xa)), self._heads(linear(self.value, xa))
            if isinstance(cache, dict):  # head by head in memory: every step reads them (1 row: 1.15 -> 0.73 ms)
                k, v = k.contiguous(), v.contiguous()
                cache.update(k=k, v=v)
        if k.shape[0] != q.shape[0]:  # beams over one audio: share the cross keys, fold beams into queries
            if q.shape[2] == 1:
                o = self._attend(q.transpose(0, 2), k, v, False, x.device, capture).transpose(0, 2)
            else:
                n = q.shape[0]
                o = self._attend(q, k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1), False, x.device, capture)
        else:
            o = self._attend(q, k, v, causal, x.device, capture)
        b, h, t, d = o.shape
        return linear(self.out, o.transpose(1, 2).reshape(b, t, h * d))

    @staticmethod
    def _attend(q: Tensor, k: Tensor, v: Tensor, causal: bool, device: torch.device,
                capture: list[Tensor] | None) -> Tensor:
        is_causal = causal and q.shape[2] > 1
        mask = _causal_mask(q.shape[2], k.shape[2], device) if is_causal and k.shape[2] != q.shape[2] else None
        if capture is None:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal and mask is None)
        w = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
        if is_causal:
            w = w + (mask if mask is not None else _causal_mask(q.shape[2], k.shape[2], device))
        w = w.float().softmax(dim=-1).to(q.dtype)
        capture.append(w)
        return w @ v


def _causal_mask(n_q: int, n_k: int, device: torch.device) -> Tensor:
    # Queries are the last n_q of n_k positions (the cache holds the first n_k - n_q).
    return torch.full((n_q, n_k), float("-inf"), device=device).triu(n_k - n_q + 1)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, n_state: int, n_head: int, cross_attention: bool = False) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.cross_attn = MultiHeadAttention(n_state, n_head) if cross_attention else None
        self.cross_attn_ln = nn.LayerNorm(n_state) if cross_attention else None
        self.mlp = nn.Sequential(nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state))
        self.mlp_ln = nn.LayerNorm(n_state)

    def forward(self, x: Tensor, xa: Tensor | None = None, cache: dict | None = None,
                capture: list[Tensor] | None = None) -> Tensor:
        self_cache = cross_cache = None
        if cache is not None:
            self_cache, cross_cache = cache.setdefault("self", LayerKV()), cache.setdefault("cross", {})
        x = x + self.attn(self.attn_ln(x), cache=self_cache, causal=xa is not None)
        if self.cross_attn is not None:
            x = x + self.cross_attn(self.cross_attn_ln(x), xa, cache=cross_cache, capture=capture)
        fc1, act, fc2 = self.mlp
        return x + linear(fc2, act(linear(fc1, self.mlp_ln(x))))


class AudioEncoder(nn.Module):
    def __init__(self, dims: WhisperDims) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_audio_state, dims.n_audio_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(dims.n_audio_ctx, dims.n_audio_state))
        self.blocks = nn.ModuleList(ResidualAttentionBlock(dims.n_audio_state, dims.n_audio_head)
                                    for _ in range(dims.n_audio_layer))
        self.ln_post = nn.LayerNorm(dims.n_audio_state)

    def forward(self, mel: Tensor) -> Tensor:
        """mel (B, n_mels, 3000) -> audio features (B, 1500, C)."""
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.positional_embedding[: x.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x)


class TextDecoder(nn.Module):
    def __init__(self, dims: WhisperDims) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(dims.n_vocab, dims.n_text_state,
                                            _weight=torch.empty(dims.n_vocab, dims.n_text_state))
        if not self.token_embedding.weight.is_meta:  # nn.Embedding's own init, in the same RNG order; on the meta
            nn.init.normal_(self.token_embedding.weight)  # device (loading) it imports 150 MB of meta kernels
        self.positional_embedding = nn.Parameter(torch.empty(dims.n_text_ctx, dims.n_text_state))
        self.blocks = nn.ModuleList(ResidualAttentionBlock(dims.n_text_state, dims.n_text_head, cross_attention=True)
                                    for _ in range(dims.n_text_layer))
        self.ln = nn.LayerNorm(dims.n_text_state)

    def forward(self, tokens: Tensor, xa: Tensor, cache: list[dict] | None = None, offset: int = 0,
                capture: AttentionCapture | None = None) -> Tensor:
        """tokens (B, T) at positions offset..offset+T, audio features xa (B, 1500, C) -> logits (B, T, vocab)."""
        return self.logits(self.hidden(tokens, xa, cache, offset, capture))

    def hidden(self, tokens: Tensor, xa: Tensor, cache: list[dict] | None = None, offset: int = 0,
               capture: AttentionCapture | None = None) -> Tensor:
        """Final normalised states (B, T, C): take `logits` of only the positions needed (the prompt's are not)."""
        x = self.token_embedding(tokens) + self.positional_embedding[offset: offset + tokens.shape[-1]]
        for i, block in enumerate(self.blocks):
            weights: list[Tensor] | None = [] if capture is not None else None
            x = block(x, xa, cache=None if cache is None else cache[i], capture=weights)
            if capture is not None and weights:
                capture.add(i, weights[0])
        return self.ln(x)

    def logits(self, x: Tensor) -> Tensor:
        """x (B, T, C) -> fp32 logits against the token embedding. This matmul reads the whole embedding every
        step and dominates the decoder loop, so its layout is chosen by the number of rows."""
        w = self.token_embedding.weight
        rows = x.shape[:-1]
        if rows.numel() == 1:
            one = split_product(x.to(w.dtype), w, None)  # a CPU: the embedding's halves on two threads, no copy
            if one is not None:
                return one.float()  # one row elsewhere: (1, C) @ (C, vocab), the transposed copy read row by row
            return (x @ derived(self, "projection", w, lambda t: t.T.contiguous()).to(x.dtype)).float()
        # several rows (beams): (vocab, C) @ (C, rows) on the embedding itself is ~3x faster than the above
        by_vocab = w.to(x.dtype) @ x.reshape(-1, x.shape[-1]).T
        return _rows_first(by_vocab).reshape(*rows, -1).float()


def _rows_first(by_vocab: Tensor) -> Tensor:
    """(vocab, rows) -> contiguous (rows, vocab). What follows (rules, log_softmax, top-k) reads each row: on a
    strided view log_softmax took 440 us a step instead of 100. torch copies a plain (vocab, 5) transpose at 245 us
    here, the same bytes as a 3-d permutation of the vocabulary's halves at 40 us."""
    vocab, rows = by_vocab.shape
    if vocab % 2:
        return torch.stack(by_vocab.unbind(1))  # 52 us
    return by_vocab.view(2, vocab // 2, rows).permute(2, 0, 1).contiguous().view(rows, vocab)


class Whisper(nn.Module):
    def __init__(self, dims: WhisperDims) -> None:
        super().__init__()
        self.dims = dims
        self.encoder = AudioEncoder(dims)
        self.decoder = TextDecoder(dims)
        # (layer, head) pairs whose cross-attention follows the audio; the checkpoint's own list replaces this.
        half = dims.n_text_layer // 2
        self.alignment_heads = [(layer, head) for layer in range(half, dims.n_text_layer)
                                for head in range(dims.n_text_head)]

    def new_cache(self) -> list[dict]:
        return [{} for _ in self.decoder.blocks]

    @staticmethod
    def reorder_cache(cache: list[dict], index: Sequence[int]) -> None:
        """Row r of every self-attention cache takes row index[r] (beam search over one audio: the cross-attention
        keys are the same for every row and stay)."""
        for layer in cache:
            if "self" in layer:
                layer["self"].reorder(index)

    @staticmethod
    def repeat_cache(cache: list[dict], rows: int) -> None:
        """A cache filled by one row's prompt serves `rows` rows (beams or samples that share the prompt)."""
        for layer in cache:
            if "self" in layer:
                layer["self"].repeat_rows(rows)

    def forward(self, mel: Tensor, tokens: Tensor) -> Tensor:
        return self.decoder(tokens, self.encoder(mel))
