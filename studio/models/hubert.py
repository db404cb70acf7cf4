"""HuBERT and wav2vec 2.0 feature encoders: 16 kHz waveform -> 50 frames/s, one hidden state per transformer layer.

Both papers share this network (a convolutional feature encoder, a convolutional positional embedding, a BERT-like
transformer); they differ in how it was trained, which does not matter for reading features. Module names follow
the Hugging Face layout (`HubertModel` / `Wav2Vec2Model`), so those checkpoints load without renaming.

Two things are ours, for long files read in blocks (studio.engine.units.features):
- the first convolution's GroupNorm (base models) normalises each channel over the *whole* input; `conv_stats`
  computes those statistics once over the whole file and `forward` can take them, so every block's convolutional
  features equal one pass over the file;
- `forward` stops at the layer asked for (layer 6 costs half of the transformer) and can keep attention maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class SpeechEncoderConfig:
    conv_dim: tuple[int, ...] = (512,) * 7
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"  # "group": GroupNorm on the first conv only (base); "layer": LayerNorm on all
    feat_proj_layer_norm: bool = True
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    do_stable_layer_norm: bool = False  # pre-LN transformer (large models) instead of post-LN
    layer_norm_eps: float = 1e-5

    @property
    def hop(self) -> int:
        """Samples between frames (320 = 20 ms at 16 kHz)."""
        hop = 1
        for s in self.conv_stride:
            hop *= s
        return hop

    @property
    def receptive_field(self) -> int:
        """Samples one frame sees (400 = 25 ms at 16 kHz)."""
        field, jump = 1, 1
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            field += (k - 1) * jump
            jump *= s
        return field

    def frames(self, samples: int) -> int:
        """Frames the feature encoder gives for `samples` input samples (0 if shorter than one frame)."""
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            samples = (samples - k) // s + 1 if samples >= k else 0
        return samples


class ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, bias: bool, norm: str | None) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, stride=stride, bias=bias)
        self.norm = norm
        if norm == "group":  # one group per channel: each channel normalised over time
            self.layer_norm: nn.Module = nn.GroupNorm(cout, cout, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(cout, elementwise_affine=True)

    def forward(self, x: Tensor, stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
        x = self.conv(x)
        if self.norm == "group":
            gn = self.layer_norm
            if stats is None:
                x = gn(x)
            else:  # the whole file's per-channel mean and variance (ConvLayer.stats_of), not this block's
                mean, var = stats
                x = (x - mean[:, None]) * torch.rsqrt(var[:, None] + gn.eps) * gn.weight[:, None] + gn.bias[:, None]
        elif self.norm == "layer":
            x = self.layer_norm(x.transpose(-2, -1)).transpose(-2, -1)
        return F.gelu(x)


class FeatureEncoder(nn.Module):
    """The convolution stack, run over one second of output frames at a time: each convolution's output then
    stays in the CPU's cache for the next (the first one's 512 channels at 3,200 frames/s are 6.5 MB a second;
    one pass over 60 s spent 0.8 s of 3.5 s writing and re-reading them). The chunks overlap by the 80 samples
    one frame's field exceeds its hop, so the frames are those of one pass; the first layer's GroupNorm uses the
    whole input's statistics (`conv_stats`), as one pass does."""

    CHUNK_FRAMES = 50

    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = (1, *cfg.conv_dim)
        self.conv_layers = nn.ModuleList(
            ConvLayer(dims[i], dims[i + 1], k, s, cfg.conv_bias,
                      ("group" if i == 0 else None) if cfg.feat_extract_norm == "group" else "layer")
            for i, (k, s) in enumerate(zip(cfg.conv_kernel, cfg.conv_stride, strict=True)))

    def _stack(self, x: Tensor, stats: tuple[Tensor, Tensor] | None) -> Tensor:
        for i, layer in enumerate(self.conv_layers):
            x = layer(x, stats if i == 0 else None)
        return x

    @torch.no_grad()
    def conv_stats(self, wave: Tensor, chunk: int = SAMPLE_RATE) -> tuple[Tensor, Tensor] | None:
        """Per-channel mean and variance of the first convolution over all of `wave` (samples,), a second at a
        time (flat memory on hours of audio); None where that layer has no GroupNorm."""
        first = self.conv_layers[0]
        if first.norm != "group":
            return None
        k, s = first.conv.kernel_size[0], first.conv.stride[0]
        total = torch.zeros(first.conv.out_channels, dtype=torch.float64)
        squares = torch.zeros_like(total)
        count = 0
        chunk -= chunk % s
        for start in range(0, max(1, wave.shape[-1] - k + 1), chunk):
            piece = wave[start:start + chunk + k - s]
            if piece.shape[-1] < k:
                break
            y = first.conv(piece[None, None].to(first.conv.weight.dtype))[0].double()
            total += y.sum(-1)
            squares += (y * y).sum(-1)
            count += y.shape[-1]
        if count == 0:
            return None
        mean = total / count
        var = (squares / count - mean * mean).clamp_min(0)
        return mean.float(), var.float()

    def forward(self, wave: Tensor, stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """(batch, samples) -> (batch, channels, frames)."""
        cfg = self.cfg
        frames = cfg.frames(wave.shape[-1])
        if wave.shape[0] != 1 or frames <= self.CHUNK_FRAMES:
            return self._stack(wave[:, None], stats)
        if stats is None:
            stats = self.conv_stats(wave[0])
        out = []
        for f0 in range(0, frames, self.CHUNK_FRAMES):
            f1 = min(frames, f0 + self.CHUNK_FRAMES)
            out.append(self._stack(wave[:, None, f0 * cfg.hop:(f1 - 1) * cfg.hop + cfg.receptive_field], stats))
        return torch.cat(out, dim=-1)


class FeatureProjection(nn.Module):
    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(cfg.conv_dim[-1], eps=cfg.layer_norm_eps) if cfg.feat_proj_layer_norm else None
        self.projection = nn.Linear(cfg.conv_dim[-1], cfg.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return self.projection(x)


class PositionalConvEmbedding(nn.Module):
    """A wide grouped convolution over time; checkpoints store it weight-normalised (g, v), folded at load."""

    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        k = cfg.num_conv_pos_embeddings
        self.conv = nn.Conv1d(cfg.hidden_size, cfg.hidden_size, k, padding=k // 2,
                              groups=cfg.num_conv_pos_embedding_groups)
        self.remove = 1 if k % 2 == 0 else 0  # an even kernel with k // 2 padding gives one frame too many

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x.transpose(1, 2))
        if self.remove:
            y = y[:, :, :-self.remove]
        return F.gelu(y).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.heads = cfg.num_attention_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: Tensor, keep: bool = False) -> tuple[Tensor, Tensor | None]:
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        if keep:  # the weights themselves, for the attention view: SDPA does not return them
            w = torch.softmax((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5, dim=-1)
            y = w @ v
        else:
            w, y = None, F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d)), w


class FeedForward(nn.Module):
    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.output_dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        self.pre_norm = cfg.do_stable_layer_norm
        self.attention = Attention(cfg)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.feed_forward = FeedForward(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor, keep: bool = False) -> tuple[Tensor, Tensor | None]:
        if self.pre_norm:
            a, w = self.attention(self.layer_norm(x), keep)
            x = x + a
            return x + self.feed_forward(self.final_layer_norm(x)), w
        a, w = self.attention(x, keep)
        x = self.layer_norm(x + a)
        return self.final_layer_norm(x + self.feed_forward(x)), w


class Encoder(nn.Module):
    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        self.pre_norm = cfg.do_stable_layer_norm
        self.pos_conv_embed = PositionalConvEmbedding(cfg)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_hidden_layers))


@dataclass
class EncoderOutput:
    hidden_states: list[Tensor]  # [0] the transformer's input, [i] the output of layer i, up to the layer asked for
    attentions: dict[int, Tensor]  # layer (1-based) -> (batch, heads, frames, frames), for the layers asked for
    last_hidden_state: Tensor | None  # when every layer ran: the last state, through the final LayerNorm if pre-LN


class SpeechEncoder(nn.Module):
    """HubertModel / Wav2Vec2Model without the pre-training heads."""

    def __init__(self, cfg: SpeechEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature_extractor = FeatureEncoder(cfg)
        self.feature_projection = FeatureProjection(cfg)
        self.encoder = Encoder(cfg)

    def conv_stats(self, wave: Tensor) -> tuple[Tensor, Tensor] | None:
        return self.feature_extractor.conv_stats(wave)

    def conv_features(self, wave: Tensor, conv_stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """(batch, samples) -> (batch, frames, channels): the convolutions' output, before the projection."""
        return self.feature_extractor(wave, conv_stats).transpose(1, 2)

    def forward(self, wave: Tensor, layer: int | None = None, attention_of: set[int] | frozenset[int] = frozenset(),
                conv_stats: tuple[Tensor, Tensor] | None = None) -> EncoderOutput:
        """`wave` (batch, samples) at 16 kHz, already normalised as the checkpoint asks. Runs the transformer up to
        `layer` (1-based; None or num_hidden_layers: all of it). `hidden_states` are Hugging Face's
        (`output_hidden_states=True`) one for one; pre-LN models' final LayerNorm is applied only to
        `last_hidden_state`, as there."""
        return self.transform(self.conv_features(wave, conv_stats), layer, attention_of)

    def transform(self, conv: Tensor, layer: int | None = None,
                  attention_of: set[int] | frozenset[int] = frozenset()) -> EncoderOutput:
        """The rest of `forward`, from `conv_features`' output."""
        n = self.cfg.num_hidden_layers
        layer = n if layer is None else layer
        if not 0 <= layer <= n:
            raise ValueError(f"layer {layer} is outside 0..{n}")
        x = self.feature_projection(conv)
        enc = self.encoder
        x = x + enc.pos_conv_embed(x)
        if not enc.pre_norm:
            x = enc.layer_norm(x)
        states, attentions = [x], {}
        for i, block in enumerate(enc.layers[:layer], start=1):
            x, w = block(x, keep=i in attention_of)
            if w is not None:
                attentions[i] = w
            states.append(x)
        last = None
        if layer == n:
            last = enc.layer_norm(x) if enc.pre_norm else x
        return EncoderOutput(states, attentions, last)
