"""VALL-E X (Plachtaa/VALL-E-X layout): an AR decoder for the first EnCodec codebook and a NAR decoder for the
other seven, both pre-norm transformer stacks over [text phonemes ; audio codes].

Module and parameter names follow the public checkpoint (`vallex-checkpoint.pt`, key "model") so it loads with
no renaming. Differences from the public inference code, none of which changes the numbers:
- the AR keeps a preallocated key/value cache (the public loop concatenates a new cache every step);
- AR attention can be captured per generated frame (head-averaged, over the text positions) to show what the
  model read while it spoke;
- generation takes a torch.Generator, so a seed gives the same take in any process, and a callback per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.models.bfloat16 import bfloat16_pays
from studio.models.int8 import int8_linears
from studio.models.kv_cache import LayerKV
from studio.models.rowmatmul import linear, split_product

# Language ids of the model's language embedding (models/vallex.py `language_ID`). The preset .npz files number
# languages differently (zh=0, ja=1, en=2): see studio/engine/clone/voices.py.
MODEL_LANGUAGE_IDS = {"en": 0, "zh": 1, "ja": 2}


@dataclass(frozen=True)
class ValleConfig:
    d_model: int = 1024
    n_head: int = 16
    n_layer: int = 12
    n_quantizers: int = 8
    n_text_tokens: int = 2048
    n_audio_tokens: int = 1024  # EnCodec bins; id 1024 is the AR's end token, 1025 its begin token
    n_languages: int = 3

    @property
    def eos(self) -> int:
        return self.n_audio_tokens

    @property
    def bos(self) -> int:
        return self.n_audio_tokens + 1


VALLEX = ValleConfig()


class TokenEmbedding(nn.Module):
    """An embedding table under the checkpoint's name `<name>.word_embeddings.weight`."""

    def __init__(self, dim: int, vocab: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)

    @property
    def weight(self) -> Tensor:
        return self.word_embeddings.weight

    def forward(self, x: Tensor) -> Tensor:
        return self.word_embeddings(x)


class SinePosition(nn.Module):
    """x + alpha * sinusoid(position); alpha is learned in the AR, fixed (but stored) in the NAR."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self._table = torch.zeros(0, dim)

    def table(self, length: int, like: Tensor) -> Tensor:
        if self._table.shape[0] < length or self._table.device != like.device or self._table.dtype != like.dtype:
            n = max(length, 4000)
            pos = torch.arange(n, dtype=torch.float32, device="cpu")[:, None]
            div = torch.exp(torch.arange(0, self.dim, 2, dtype=torch.float32) * -(math.log(10000.0) / self.dim))
            pe = torch.zeros(n, self.dim)
            pe[:, 0::2] = torch.sin(pos * div)
            pe[:, 1::2] = torch.cos(pos * div)
            self._table = pe.to(device=like.device, dtype=like.dtype)
        return self._table

    def forward(self, x: Tensor, start: int = 0) -> Tensor:
        return x + self.alpha * self.table(start + x.shape[1], x)[start:start + x.shape[1]]


class SelfAttention(nn.Module):
    """Packed q/k/v projection under torch's MultiheadAttention names (in_proj_weight, in_proj_bias, out_proj)."""

    def __init__(self, dim: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        self.in_proj: nn.Module | None = None  # the packed projection as a module, once quantized (make_fast)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: Tensor, mask: Tensor | None = None, cache: LayerKV | None = None,
                capture: list[Tensor] | None = None) -> Tensor:
        """x (B, T, C); `mask` (T, K) bool, True where a query may look. `capture` receives the softmaxed weights
        (B, heads, T, K)."""
        b, t, c = x.shape
        if self.in_proj is not None:
            qkv = self.in_proj(x)
        else:  # an AR step's one row: the packed weight's halves on both threads (studio.models.rowmatmul)
            one = split_product(x, self.in_proj_weight, self.in_proj_bias)
            qkv = one if one is not None else F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, t, 3, self.n_head, -1).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.append(k, v)
        if capture is None:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            w = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
            if mask is not None:
                w = w.masked_fill(~mask, float("-inf"))
            w = w.float().softmax(dim=-1).to(q.dtype)
            capture.append(w)
            o = w @ v
        return linear(self.out_proj, o.transpose(1, 2).reshape(b, t, c))


class AdaptiveLayerNorm(nn.Module):
    """The NAR's norm: scale and shift projected from the stage embedding, so one stack serves all 7 stages."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project_layer = nn.Linear(dim, 2 * dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, stage: Tensor) -> Tensor:
        scale, shift = self.project_layer(stage).chunk(2, dim=-1)
        return scale * self.norm(x) + shift


class Block(nn.Module):
    def __init__(self, dim: int, n_head: int, adaptive: bool) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, n_head)
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)
        self.norm1: nn.Module = AdaptiveLayerNorm(dim) if adaptive else nn.LayerNorm(dim)
        self.norm2: nn.Module = AdaptiveLayerNorm(dim) if adaptive else nn.LayerNorm(dim)
        self.adaptive = adaptive

    def _norm(self, norm: nn.Module, x: Tensor, stage: Tensor | None) -> Tensor:
        return norm(x, stage) if self.adaptive else norm(x)

    def forward(self, x: Tensor, mask: Tensor | None = None, stage: Tensor | None = None,
                cache: LayerKV | None = None, capture: list[Tensor] | None = None) -> Tensor:
        x = x + self.self_attn(self._norm(self.norm1, x, stage), mask, cache, capture)
        return x + linear(self.linear2, F.relu(linear(self.linear1, self._norm(self.norm2, x, stage))))


class Stack(nn.Module):
    def __init__(self, dim: int, n_head: int, n_layer: int, adaptive: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(dim, n_head, adaptive) for _ in range(n_layer))
        self.norm: nn.Module = AdaptiveLayerNorm(dim) if adaptive else nn.LayerNorm(dim)
        self.adaptive = adaptive

    def forward(self, x: Tensor, mask: Tensor | None = None, stage: Tensor | None = None,
                caches: list[LayerKV] | None = None, capture: list[list[Tensor]] | None = None) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, stage, None if caches is None else caches[i], None if capture is None else capture[i])
        return self.norm(x, stage) if self.adaptive else self.norm(x)


@dataclass
class ARCapture:
    """AR self-attention of each generated frame over the text, averaged over heads: `text[layer][frame]` is a
    (S,) tensor. Kept per layer so a view can pick one or average them."""

    n_text: int
    text: list[list[Tensor]]

    def matrix(self) -> Tensor:
        """(layers, frames, S) float32."""
        return torch.stack([torch.stack(f) if f else torch.zeros(0, self.n_text) for f in self.text]).float()


StepCallback = Callable[[int], None]  # called with the number of frames generated so far; may raise to stop


class VallE(nn.Module):
    def __init__(self, cfg: ValleConfig = VALLEX) -> None:
        super().__init__()
        self.cfg = cfg
        d, a = cfg.d_model, cfg.n_audio_tokens
        self.ar_text_embedding = TokenEmbedding(d, cfg.n_text_tokens)
        self.nar_text_embedding = TokenEmbedding(d, cfg.n_text_tokens)
        self.ar_audio_embedding = TokenEmbedding(d, a + 2)  # + end, + begin
        self.ar_text_position = SinePosition(d)
        self.ar_audio_position = SinePosition(d)
        self.ar_decoder = Stack(d, cfg.n_head, cfg.n_layer, adaptive=False)
        self.ar_predict_layer = nn.Linear(d, a + 1, bias=False)
        self.nar_audio_embeddings = nn.ModuleList(
            [TokenEmbedding(d, a + 1)] + [TokenEmbedding(d, a) for _ in range(cfg.n_quantizers - 1)])
        self.nar_text_position = SinePosition(d)
        self.nar_audio_position = SinePosition(d)
        self.nar_decoder = Stack(d, cfg.n_head, cfg.n_layer, adaptive=True)
        self.nar_predict_layers = nn.ModuleList(nn.Linear(d, a, bias=False) for _ in range(cfg.n_quantizers - 1))
        self.nar_stage_embeddings = nn.ModuleList(TokenEmbedding(d, 1) for _ in range(cfg.n_quantizers - 1))
        # stage j predicts codebook j + 1 with the embedding table that later stages read it back with
        for j in range(cfg.n_quantizers - 2):
            self.nar_predict_layers[j].weight = self.nar_audio_embeddings[j + 2].weight
        self.ar_language_embedding = TokenEmbedding(d, cfg.n_languages)
        self.nar_language_embedding = TokenEmbedding(d, cfg.n_languages)

    @property
    def device(self) -> torch.device:
        return self.ar_text_embedding.weight.device

    def _text(self, text: Tensor, langs: Tensor, nar: bool) -> Tensor:
        """text (1, S) ids and langs (S,) model language ids -> (1, S, d) with language and position."""
        emb, lang, pos = ((self.nar_text_embedding, self.nar_language_embedding, self.nar_text_position) if nar
                          else (self.ar_text_embedding, self.ar_language_embedding, self.ar_text_position))
        return pos(emb(text) + lang(langs)[None])

    # -- AR ---------------------------------------------------------------------------------------------------
    def ar_logits(self, text: Tensor, langs: Tensor, audio: Tensor) -> Tensor:
        """Logits of the next first-codebook token after `audio` (1, Y) (begin token + prompt + generated),
        computed over the whole sequence without a cache: the reference the cached loop must equal."""
        x = self._text(text, langs, nar=False)
        y = self.ar_audio_position(self.ar_audio_embedding(audio))
        h = self.ar_decoder(torch.cat([x, y], dim=1), self._ar_mask(x.shape[1], y.shape[1], 0, x.device))
        return linear(self.ar_predict_layer, h[:, -1])

    @staticmethod
    def _ar_mask(s: int, y: int, past: int, device: torch.device) -> Tensor:
        """Rows for the last `s + y - past` of s text + y audio positions: text sees text, audio sees the text and
        the audio up to itself."""
        n = s + y
        allowed = torch.ones(n, n, dtype=torch.bool, device=device).tril_()
        allowed[:s, :s] = True
        return allowed[past:]

    @torch.inference_mode()
    def generate_ar(self, text: Tensor, langs: Tensor, prompt: Tensor, *, top_k: int = -100,
                    temperature: float = 1.0, generator: torch.Generator | None = None,
                    max_frames: int | None = None, force_frames: int | None = None, use_cache: bool = True,
                    capture: ARCapture | None = None, on_step: StepCallback | None = None) -> Tensor:
        """First-codebook tokens (1, N) after `prompt` (1, P), for `text` (1, S) = prompt text + target text.

        Stops at the end token or after `max_frames` (default 16 frames per text token, the public code's cap);
        `force_frames` ignores the end token and generates exactly that many (benchmarks)."""
        cfg = self.cfg
        s = text.shape[1]
        limit = force_frames if force_frames is not None else (max_frames if max_frames is not None else 16 * s)
        audio = F.pad(prompt, (1, 0), value=cfg.bos)
        caches = [LayerKV(s + audio.shape[1] + limit + 1) for _ in range(cfg.n_layer)] if use_cache else None
        x = self._text(text, langs, nar=False)
        out: list[int] = []
        y_all = audio
        step_input = torch.cat([x, self.ar_audio_position(self.ar_audio_embedding(audio))], dim=1)
        past = 0
        while True:
            layers_capture: list[list[Tensor]] | None = (
                [[] for _ in range(cfg.n_layer)] if capture is not None and use_cache else None)
            if use_cache:
                mask = self._ar_mask(s, y_all.shape[1], past, text.device) if step_input.shape[1] > 1 else None
                h = self.ar_decoder(step_input, mask, caches=caches, capture=layers_capture)
                logits = linear(self.ar_predict_layer, h[:, -1])
            else:
                logits = self.ar_logits(text, langs, y_all)
            if force_frames is not None:
                logits[..., cfg.eos] = float("-inf")
            token = sample(logits, top_k, temperature, generator)
            if token == cfg.eos or len(out) >= limit:
                break
            out.append(token)
            if layers_capture is not None and capture is not None:
                for i, ws in enumerate(layers_capture):
                    capture.text[i].append(ws[0][0, :, -1, :s].mean(0).to(torch.float16).cpu())
            if on_step is not None:
                on_step(len(out))
            if force_frames is not None and len(out) >= force_frames:
                break
            new = torch.tensor([[token]], device=text.device)
            y_all = torch.cat([y_all, new], dim=1)
            past = s + y_all.shape[1] - 1
            step_input = self.ar_audio_position(self.ar_audio_embedding(new), start=y_all.shape[1] - 1)
        return torch.tensor([out], dtype=torch.long, device=text.device)

    # -- NAR --------------------------------------------------------------------------------------------------
    def nar_logits(self, x: Tensor, y_emb: Tensor, stage: int) -> Tensor:
        """Logits for codebook `stage + 1` at the audio positions of `y_emb` (prompt + generated)."""
        h = self.nar_decoder(torch.cat([x, self.nar_audio_position(y_emb)], dim=1), None,
                             self.nar_stage_embeddings[stage].weight)
        return self.nar_predict_layers[stage](h[:, x.shape[1]:])

    @torch.inference_mode()
    def generate_nar(self, text: Tensor, langs: Tensor, prompt: Tensor, first: Tensor,
                     on_stage: Callable[[int], None] | None = None) -> Tensor:
        """Codebooks 2..8 for the frames `first` (1, N), given the prompt's codes `prompt` (1, P, 8): greedy, one
        stage per codebook, each reading the sum of the codebooks known so far. Returns (1, N, 8)."""
        p = prompt.shape[1]
        x = self._text(text, langs, nar=True)
        emb = self.nar_audio_embeddings
        y_emb = emb[0](torch.cat([prompt[..., 0], first], dim=1))
        for j in range(1, self.cfg.n_quantizers):
            y_emb[:, :p] += emb[j](prompt[..., j])
        codes = [first]
        for stage in range(self.cfg.n_quantizers - 1):
            logits = self.nar_logits(x, y_emb, stage)[:, p:]
            tokens = logits.argmax(dim=-1)
            codes.append(tokens)
            if stage < self.cfg.n_quantizers - 2:
                y_emb[:, p:] += emb[stage + 1](tokens)
            if on_stage is not None:
                on_stage(stage + 1)
        return torch.stack(codes, dim=-1)


def sample(logits: Tensor, top_k: int, temperature: float, generator: torch.Generator | None) -> int:
    """One token from (1, V) logits: temperature, then top-k (k <= 0 keeps all), then a multinomial draw: the
    public code's order, so equal logits and seed give an equal token."""
    if temperature != 1.0:
        logits = logits / temperature
    if top_k > 0:
        k = min(top_k, logits.shape[-1])
        logits = logits.masked_fill(logits < torch.topk(logits, k)[0][..., -1, None], float("-inf"))
    probs = F.softmax(logits.float(), dim=-1)
    if generator is not None and generator.device != probs.device:  # a CPU seed gives the same take on a GPU
        probs = probs.to(generator.device)
    return int(torch.multinomial(probs, 1, generator=generator).item())


PRECISIONS = ("float32", "fast")


def make_fast(model: VallE, device: str | torch.device) -> VallE:
    """Trade exactness for speed, in place. On a CPU each AR step reads every AR weight for one frame (memory
    bound): its linears become int8 with dynamic activation scales (4x fewer bytes); the NAR multiplies whole
    sequences (compute bound): bfloat16 where this CPU runs it faster than float32 (about 4x with bfloat16
    instructions; without them it is emulated and 6x slower: studio.models.bfloat16), else float32 (both
    measured, benchmarks/clone.py). On a GPU the model is left in float32: there the AR step is bound by kernel
    launches, and bfloat16 measured slower (H200: 343 vs 391 frames/s, and a 36 s first synthesis)."""
    if torch.device(device).type != "cpu" or model.ar_decoder.layers[0].self_attn.in_proj is not None:
        return model  # on a GPU, or made fast already
    model.float()  # the int8 layers take float32 input, whatever the model came in
    if bfloat16_pays():
        for name, child in model.named_children():
            if name.startswith("nar_"):
                child.to(torch.bfloat16)
    for layer in model.ar_decoder.layers:
        attn = layer.self_attn
        packed = nn.Linear(attn.in_proj_weight.shape[1], attn.in_proj_weight.shape[0])
        packed.weight, packed.bias = attn.in_proj_weight, attn.in_proj_bias
        attn.in_proj = int8_linears(packed)
        attn.in_proj_weight = nn.Parameter(torch.empty(0), requires_grad=False)  # its int8 copy serves
    int8_linears(model.ar_decoder, inplace=True)
    model.ar_predict_layer = int8_linears(model.ar_predict_layer)
    return model
