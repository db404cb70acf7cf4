"""Word timestamps: cross-attention of the alignment heads, normalised and median-filtered, aligned by DTW."""

from __future__ import annotations

import numpy as np
import torch

from studio.engine.asr.result import Word
from studio.engine.asr.tokenizer import WhisperTokenizer
from studio.models.whisper import AttentionCapture, Whisper

TOKENS_PER_SECOND = 50  # audio features are 20 ms apart
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic alignment path through `cost` (N, M), computed one anti-diagonal at a time."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0
    trace = np.zeros((n + 1, m + 1), np.int8)
    for d in range(2, n + m + 1):
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        c0, c1, c2 = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        t = np.where((c0 < c1) & (c0 < c2), 0, np.where((c1 < c0) & (c1 < c2), 1, 2))
        acc[i, j] = cost[i - 1, j - 1] + np.choose(t, [c0, c1, c2])
        trace[i, j] = t
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = n, m
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    rows, cols = np.array(path[::-1]).T
    return rows, cols


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """Median over the last axis in a window of odd `width`, reflect-padded."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    shape = x.shape
    y = torch.nn.functional.pad(x.reshape(-1, 1, shape[-1]), (pad, pad), mode="reflect")
    return y.unfold(-1, width, 1).median(dim=-1).values.reshape(shape)


@torch.inference_mode()
def teacher_forced_attention(model: Whisper, features: torch.Tensor,
                             tokens: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the decoder once over `tokens` and return (cross-attention (layers, heads, T, 1500), logits (T, V))."""
    capture = AttentionCapture()
    x = torch.tensor([tokens], device=features.device)
    logits = model.decoder(x, features, capture=capture)
    return capture.stacked()[:, 0], logits[0]


def find_alignment(model: Whisper, tok: WhisperTokenizer, features: torch.Tensor, start_tokens: list[int],
                   text_tokens: list[int], num_frames: int, language: str | None,
                   medfilt_width: int = 7) -> list[Word]:
    """Words of `text_tokens` with start/end seconds relative to the window start."""
    if not text_tokens:
        return []
    tokens = [*start_tokens, *text_tokens, tok.eot]
    weights, logits = teacher_forced_attention(model, features, tokens)
    # Position p predicts token p + 1: the last start token predicts the first text token.
    probs = logits[len(start_tokens) - 1: -1, : tok.eot].float().softmax(-1)
    text_probs = probs[torch.arange(len(text_tokens), device=probs.device),
                       torch.tensor(text_tokens, device=probs.device)].tolist()
    heads = torch.stack([weights[layer, head] for layer, head in model.alignment_heads])
    heads = heads[:, :, : max(1, num_frames // 2)]
    heads = heads / heads.sum(-1, keepdim=True).clamp_min(1e-12)  # softmax restricted to the audio present
    std, mean = torch.std_mean(heads, dim=-2, keepdim=True, unbiased=False)
    heads = median_filter((heads - mean) / std.clamp_min(1e-9), medfilt_width)
    matrix = heads.mean(0)[len(start_tokens) - 1: -1]
    text_idx, time_idx = dtw(-matrix.double().cpu().numpy())

    words, word_tokens = tok.split_to_word_tokens(text_tokens + [tok.eot], language)
    if len(word_tokens) <= 1:
        return []
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_idx), (1, 0), constant_values=1).astype(bool)
    jump_times = time_idx[jumps] / TOKENS_PER_SECOND
    starts, ends = jump_times[boundaries[:-1]], jump_times[boundaries[1:]]
    out = []
    for k, (word, toks) in enumerate(zip(words[:-1], word_tokens[:-1], strict=True)):
        b = boundaries[k]
        p = float(np.mean(text_probs[b: b + len(toks)]))
        out.append(Word(float(starts[k]), float(ends[k]), word, p, list(toks)))
    return merge_punctuations(out)


def merge_punctuations(words: list[Word]) -> list[Word]:
    """Attach opening marks to the next word and closing marks to the previous one."""
    merged: list[Word] = []
    carry: Word | None = None
    for w in words:
        stripped = w.text.strip()
        if stripped and stripped in PREPEND_PUNCTUATIONS and w.text.startswith(" "):
            carry = w if carry is None else Word(carry.start, w.end, carry.text + w.text, carry.probability,
                                                    carry.tokens + w.tokens)
            continue
        if carry is not None:
            w = Word(w.start, w.end, carry.text + w.text.lstrip(), min(carry.probability, w.probability),
                     carry.tokens + w.tokens)
            carry = None
        if merged and stripped and all(c in APPEND_PUNCTUATIONS for c in stripped) and not w.text.startswith(" "):
            prev = merged[-1]
            merged[-1] = Word(prev.start, prev.end, prev.text + w.text, prev.probability, prev.tokens + w.tokens)
            continue
        merged.append(w)
    if carry is not None:
        merged.append(carry)
    return merged
