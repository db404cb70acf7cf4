"""Word timestamps: cross-attention of the alignment heads, normalised and median-filtered, aligned by DTW."""

from __future__ import annotations

import numpy as np
import torch

from studio.engine.asr.result import Segment, Word
from studio.engine.asr.tokenizer import WhisperTokenizer
from studio.models.whisper import AttentionCapture, Whisper

TOKENS_PER_SECOND = 50  # audio features are 20 ms apart
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
SENTENCE_END_MARKS = ".。!！?？"


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
    """Word timings of `text_tokens` in seconds from the window start, one per word and punctuation mark, before
    any post-processing (openai-whisper's `find_alignment`)."""
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
    return out


def merge_punctuations(words: list[Word], prepended: str = PREPEND_PUNCTUATIONS,
                       appended: str = APPEND_PUNCTUATIONS) -> None:
    """In place, as openai-whisper: opening marks join the next word, closing marks the previous one; a merged
    mark stays in the list with empty text and no tokens (so token counts per segment still add up)."""
    i, j = len(words) - 2, len(words) - 1
    while i >= 0:
        previous, following = words[i], words[j]
        if previous.text.startswith(" ") and previous.text.strip() in prepended:
            following.text = previous.text + following.text
            following.tokens = previous.tokens + following.tokens
            previous.text, previous.tokens = "", []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(words):
        previous, following = words[i], words[j]
        if not previous.text.endswith(" ") and following.text in appended:
            previous.text = previous.text + following.text
            previous.tokens = previous.tokens + following.tokens
            following.text, following.tokens = "", []
        else:
            i = j
        j += 1


def aligned_words(model: Whisper, tok: WhisperTokenizer, features: torch.Tensor, start_tokens: list[int],
                  text_tokens: list[int], num_frames: int, language: str | None) -> list[Word]:
    """The words of `text_tokens` with punctuation attached, times from the window start."""
    words = find_alignment(model, tok, features, start_tokens, text_tokens, num_frames, language)
    merge_punctuations(words)
    return [w for w in words if w.text]


def last_word_end(segments: list[Segment]) -> float | None:
    """End of the last word, or of the last segment where no segment has words (openai-whisper's get_end)."""
    return next((w.end for s in reversed(segments) for w in reversed(s.words)),
                segments[-1].end if segments else None)


def add_word_timestamps(model: Whisper, tok: WhisperTokenizer, features: torch.Tensor, start_tokens: list[int],
                        segments: list[Segment], num_frames: int, time_offset: float, language: str | None,
                        last_speech_timestamp: float) -> None:
    """Give each segment of one window its words, and trim implausibly long words and segment edges, exactly as
    openai-whisper's `add_word_timestamps` (times rounded to 10 ms as it does)."""
    if not segments:
        return
    per_segment = [[t for t in s.tokens if t < tok.eot] for s in segments]
    alignment = find_alignment(model, tok, features, start_tokens, [t for ts in per_segment for t in ts],
                               num_frames, language)
    durations = np.array([w.end - w.start for w in alignment])
    durations = durations[durations.nonzero()]
    median_duration = min(0.7, float(np.median(durations))) if len(durations) > 0 else 0.0
    max_duration = median_duration * 2
    if len(durations) > 0:  # a word at a sentence end is no longer than twice the median word
        for i in range(1, len(alignment)):
            if alignment[i].end - alignment[i].start > max_duration:
                if alignment[i].text in SENTENCE_END_MARKS:
                    alignment[i].end = alignment[i].start + max_duration
                elif alignment[i - 1].text in SENTENCE_END_MARKS:
                    alignment[i].start = alignment[i].end - max_duration
    merge_punctuations(alignment)

    index = 0
    for segment, tokens in zip(segments, per_segment, strict=True):
        saved, words = 0, []
        while index < len(alignment) and saved < len(tokens):
            timing = alignment[index]
            if timing.text:
                start, end = float(time_offset + timing.start), float(time_offset + timing.end)
                words.append(Word(round(start, 2), round(end, 2), timing.text, timing.probability, timing.tokens))
            saved += len(timing.tokens)
            index += 1
        if words:
            first, last = words[0], words[-1]
            # after a pause, the first (and second) word are no longer than twice the median word
            if first.end - last_speech_timestamp > median_duration * 4 and (
                    first.end - first.start > max_duration
                    or (len(words) > 1 and words[1].end - first.start > max_duration * 2)):
                if len(words) > 1 and words[1].end - words[1].start > max_duration:
                    boundary = max(words[1].end / 2, words[1].end - max_duration)
                    first.end = words[1].start = boundary
                first.start = max(0, first.end - max_duration)
            # the segment's own start and end win over a first or last word that is too long
            if segment.start < first.end and segment.start - 0.5 > first.start:
                first.start = max(0, min(first.end - median_duration, segment.start))
            else:
                segment.start = first.start
            if segment.end > last.start and segment.end + 0.5 < last.end:
                last.end = max(last.start + median_duration, segment.end)
            else:
                segment.end = last.end
            last_speech_timestamp = segment.end
        segment.words = words
