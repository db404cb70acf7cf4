"""BLIP caption decoding: greedy and beam search with the generation options of transformers' `generate()`
(minimum new tokens, no-repeat n-grams, repetition penalty, length penalty), giving the same tokens and scores as
transformers 5.x for the same weights. Per generated token it keeps the log-probability it was scored with, the
model's five likeliest tokens and, on request, the cross-attention of the query that predicted it.

Beam search follows transformers' vectorised `_beam_search` (early_stopping=False): each step keeps the
2 * beams best continuations, the top `beams` of those that end (end token or length limit) become finished
hypotheses scored sum-logprob / length ** length_penalty, the best `beams` unfinished ones run on, and the search
stops when no running beam can beat the worst finished one by transformers' heuristic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from studio.errors import StudioError
from studio.models.blip import Blip

NEG = -1.0e9  # transformers' "never pick this" score for beam bookkeeping


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 1
    max_new_tokens: int = 20
    min_new_tokens: int = 0  # the end token is banned before this many new tokens (HF min_length = prompt + this)
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    length_penalty: float = 1.0  # beams only: score = sum logprob / length ** length_penalty
    num_return: int = 1

    def validate(self) -> None:
        checks = [
            (self.beam_size >= 1, f"beam size {self.beam_size}", "Use a beam size of 1 (greedy) or more."),
            (self.max_new_tokens >= 1, f"maximum length {self.max_new_tokens}", "Allow at least one new token."),
            (self.min_new_tokens >= 0, f"minimum length {self.min_new_tokens}", "Use a minimum length of 0 or more."),
            (self.no_repeat_ngram_size >= 0, f"no-repeat n-gram size {self.no_repeat_ngram_size}",
             "Use 0 (off) or a positive n-gram size."),
            (self.repetition_penalty > 0, f"repetition penalty {self.repetition_penalty}",
             "Use a repetition penalty above 0 (1.0 is off)."),
            (np.isfinite(self.length_penalty), f"length penalty {self.length_penalty}", "Use a finite length penalty."),
            (1 <= self.num_return <= self.beam_size, f"{self.num_return} captions from {self.beam_size} beam(s)",
             "Ask for at most as many captions as beams."),
        ]
        for ok, what, remedy in checks:
            if not ok:
                raise StudioError(f"Captioning cannot use {what}.", remedy)


@dataclass
class Result:
    tokens: list[int]  # generated ids after the prompt, the end token included when it was generated
    score: float  # beams: transformers' sequences_scores; greedy: the summed token_logprobs
    token_logprobs: list[float]  # the (penalised) log-probability each token was scored with
    top5: list[list[tuple[int, float]]]  # per generated token: the model's 5 likeliest ids and probabilities
    cross_attention: np.ndarray | None  # float32 (layers, heads, generated, image tokens incl. class); row i is
    # the query that predicted token i


def _process(seqs: Tensor, scores: Tensor, opts: DecodeOptions, prompt_len: int, eos: int) -> Tensor:
    """transformers' logits processors, in its order: repetition penalty, no-repeat n-grams, minimum new tokens.
    `seqs` (rows, T) are the full sequences so far (prompt included, as transformers sees them)."""
    if opts.repetition_penalty != 1.0:
        seen = scores.gather(1, seqs)
        # negative scores are multiplied so a penalty always lowers the token
        seen = torch.where(seen < 0, seen * opts.repetition_penalty, seen / opts.repetition_penalty)
        scores = scores.scatter(1, seqs, seen)
    n, length = opts.no_repeat_ngram_size, seqs.shape[1]
    if n > 0 and length >= n:
        banned = torch.zeros_like(scores, dtype=torch.bool)
        for row, seq in enumerate(seqs.tolist()):
            prefix = seq[length - n + 1:]
            for i in range(length - n + 1):
                if seq[i:i + n - 1] == prefix:
                    banned[row, seq[i + n - 1]] = True
        scores = scores.masked_fill(banned, float("-inf"))
    if length - prompt_len < opts.min_new_tokens:
        scores = scores.clone()
        scores[:, eos] = float("-inf")
    return scores


def _validate_inputs(model: Blip, pixels: Tensor, prompt_ids: list[int], opts: DecodeOptions) -> None:
    opts.validate()
    if pixels.dim() != 4 or pixels.shape[0] != 1 or pixels.shape[1] != 3:
        raise StudioError(f"Captioning takes one RGB image at a time, got pixels of shape {tuple(pixels.shape)}.",
                          "Pass a (1, 3, height, width) tensor.")
    check_length(model, prompt_ids, opts)


def check_length(model: Blip, prompt_ids: list[int], opts: DecodeOptions) -> None:
    """The prompt's ids are the model's and leave room for the new tokens (before any picture is read)."""
    text = model.cfg.text
    if not prompt_ids or any(not 0 <= i < text.vocab_size for i in prompt_ids):
        raise StudioError("The caption prompt is empty or has ids outside the vocabulary.",
                          "Start the prompt with the begin token and use the model's tokenizer.")
    room = text.max_position_embeddings - len(prompt_ids)
    if opts.max_new_tokens > room:
        words = len(prompt_ids) - 1  # the begin token is not the user's
        remedy = (f"Shorten the prompt or ask for at most {room} new tokens." if room >= 1 else
                  f"Shorten the prompt to fewer than {text.max_position_embeddings - 1} tokens (about as many words).")
        raise StudioError(f"The prompt ({words} tokens) and {opts.max_new_tokens} new tokens exceed the "
                          f"model's {text.max_position_embeddings} positions.", remedy)


def _top5(logits: Tensor) -> tuple[list[list[float]], list[list[int]]]:
    p, i = logits.softmax(-1).topk(min(5, logits.shape[-1]), dim=-1)
    return p.tolist(), i.tolist()


def _attention_rows(capture: list[list[Tensor]]) -> Tensor:
    """Per-layer captures of one step -> (layers, rows, heads, image tokens): the last query of each row. Left on
    the model's device: copying each step to the host would wait for the GPU every token (measured: capture
    doubled a caption's time on an H200); the whole path is copied once at the end."""
    return torch.stack([layer[-1][:, :, -1] for layer in capture]).float()


@torch.inference_mode()
def decode(model: Blip, pixels: Tensor, prompt_ids: list[int], options: DecodeOptions, capture: bool = False,
           check: Callable[[], None] = lambda: None,
           on_token: Callable[[int, list[int]], None] | None = None) -> list[Result]:
    """Caption `pixels` (1, 3, H, W) after `prompt_ids` (the begin token first). Greedy for beam_size 1, else beam
    search; results best first. `check()` runs before every step (it raises to cancel); `on_token(step, tokens)`
    reports the tokens of the best running hypothesis after each step."""
    _validate_inputs(model, pixels, prompt_ids, options)
    image = model.encode(pixels)
    if options.beam_size == 1:
        return [_greedy(model, image, prompt_ids, options, capture, check, on_token)]
    return _beam(model, image, prompt_ids, options, capture, check, on_token)


def _greedy(model: Blip, image: Tensor, prompt: list[int], opts: DecodeOptions, capture: bool,
            check: Callable[[], None], on_token: Callable[[int, list[int]], None] | None) -> Result:
    dec = model.text_decoder
    eos = dec.cfg.sep_token_id
    cache: dict = {}
    seq = torch.tensor([prompt], device=image.device)
    step_ids = seq
    out: list[int] = []
    logprobs: list[float] = []
    top5: list[list[tuple[int, float]]] = []
    rows: list[Tensor] = []
    for step in range(opts.max_new_tokens):
        check()
        layers: list[list[Tensor]] | None = [[] for _ in dec.bert.encoder.layer] if capture else None
        logits = dec(step_ids, image, cache, layers)[:, -1].float()
        scores = _process(seq, logits, opts, len(prompt), eos)
        token = int(scores[0].argmax())
        out.append(token)
        logprobs.append(float(scores[0].log_softmax(-1)[token]))
        p, i = _top5(logits)
        top5.append(list(zip(i[0], p[0], strict=True)))
        if layers is not None:
            rows.append(_attention_rows(layers)[:, 0])
        if on_token is not None:
            on_token(step + 1, list(out))
        if token == eos:
            break
        step_ids = torch.tensor([[token]], device=image.device)
        seq = torch.cat([seq, step_ids], dim=1)
    attention = torch.stack(rows, dim=2).cpu().numpy() if capture else None
    return Result(out, sum(logprobs), logprobs, top5, attention)


@dataclass
class _Hyp:
    tokens: list[int]
    rows: list[int]  # the beam row whose query predicted each token
    logprobs: list[float]


def _beam(model: Blip, image: Tensor, prompt: list[int], opts: DecodeOptions, capture: bool,
          check: Callable[[], None], on_token: Callable[[int, list[int]], None] | None) -> list[Result]:
    dec = model.text_decoder
    eos, nb, dev = dec.cfg.sep_token_id, opts.beam_size, image.device
    keep = 2 * nb  # candidates per step, so that nb run on even when nb of them end
    is_top = torch.arange(keep, device=dev) < nb  # only these may become finished hypotheses
    cache: dict = {}
    running = [_Hyp([], [], []) for _ in range(nb)]
    # every beam starts from the prompt; the zero on beam 0 alone keeps the first step from picking nb copies
    run_scores = torch.full((nb,), NEG, device=dev)
    run_scores[0] = 0.0
    finished = [_Hyp([], [], []) for _ in range(nb)]
    fin_scores = torch.full((nb,), NEG, device=dev)
    fin_done = torch.zeros(nb, dtype=torch.bool, device=dev)
    steps_top5: list[tuple[list[list[float]], list[list[int]]]] = []
    steps_attn: list[Tensor] = []
    step_ids = torch.tensor([prompt], device=dev)
    for step in range(opts.max_new_tokens):
        check()
        layers: list[list[Tensor]] | None = [[] for _ in dec.bert.encoder.layer] if capture else None
        logits = dec(step_ids, image, cache, layers)[:, -1].float()
        if step == 0:  # the prompt ran once; all beams share it
            logits = logits.expand(nb, -1)
            _expand_cache(cache, nb)
        if layers is not None:
            steps_attn.append(_attention_rows(layers).expand(-1, nb, -1, -1) if step == 0 else _attention_rows(layers))
        steps_top5.append(_top5(logits))
        seqs = torch.tensor([prompt + h.tokens for h in running], device=dev)
        logprobs = _process(seqs, F.log_softmax(logits, dim=-1), opts, len(prompt), eos)
        vocab = logprobs.shape[-1]
        top_lp, top_idx = (logprobs + run_scores[:, None]).reshape(-1).topk(keep)
        src, tok = (top_idx // vocab).tolist(), (top_idx % vocab).tolist()
        chosen = logprobs[top_idx // vocab, top_idx % vocab].tolist()
        cands = [_Hyp(running[s].tokens + [t], running[s].rows + [s], running[s].logprobs + [lp])
                 for s, t, lp in zip(src, tok, chosen, strict=True)]
        last = step + 1 == opts.max_new_tokens
        ends = torch.tensor([t == eos or last for t in tok], device=dev)

        # the best nb candidates that did not end run on
        run_lp = top_lp + ends.float() * NEG
        nxt = run_lp.topk(nb).indices
        running, run_scores = [cands[i] for i in nxt.tolist()], run_lp[nxt]

        # candidates among the top nb that ended compete with the finished hypotheses
        just_done = ends & is_top
        # (transformers also masks everything once no improvement is possible; one image stops the search then)
        fin_lp = top_lp / ((step + 1) ** opts.length_penalty) + (~just_done).float() * NEG
        merged = finished + cands
        merged_scores = torch.cat([fin_scores, fin_lp])
        best = merged_scores.topk(nb).indices
        finished = [merged[i] for i in best.tolist()]
        fin_scores, fin_done = merged_scores[best], torch.cat([fin_done, just_done])[best]

        _reorder_cache(cache, torch.tensor([src[i] for i in nxt.tolist()], device=dev))
        step_ids = torch.tensor([[h.tokens[-1]] for h in running], device=dev)
        if on_token is not None:
            on_token(step + 1, list(running[0].tokens))

        # transformers' heuristic (early_stopping=False): can the best running beam, scored at its current length,
        # still beat the worst finished hypothesis?
        best_running = run_scores[0] / ((step + 1) ** opts.length_penalty)
        worst = torch.where(fin_done, fin_scores.min(), torch.tensor(NEG, device=dev))
        if not bool((best_running > worst).any()) or bool(ends.all()):
            break
    return [_result(h, float(s), steps_top5, steps_attn if capture else None)
            for h, s in zip(finished[:opts.num_return], fin_scores[:opts.num_return].tolist(), strict=True)]


def _result(h: _Hyp, score: float, steps_top5: list[tuple[list[list[float]], list[list[int]]]],
            steps_attn: list[Tensor] | None) -> Result:
    top5 = [list(zip(steps_top5[i][1][r], steps_top5[i][0][r], strict=True)) for i, r in enumerate(h.rows)]
    attention = None
    if steps_attn is not None:
        attention = torch.stack([steps_attn[i][:, r] for i, r in enumerate(h.rows)], dim=2).cpu().numpy()
    return Result(list(h.tokens), score, list(h.logprobs), top5, attention)


def _expand_cache(cache: dict, rows: int) -> None:
    """After the one-row prompt step: self-attention keys/values copied per beam (they diverge); the image's
    cross-attention keys/values shared as an expanded view (they never change)."""
    for layer in cache["layers"]:
        for kind in ("self", "cross"):
            for name in ("k", "v"):
                layer[kind][name] = layer[kind][name].expand(rows, -1, -1, -1)


def _reorder_cache(cache: dict, rows: Tensor) -> None:
    """Beam i continues from row rows[i]: gather the self-attention keys/values (index_select copies)."""
    for layer in cache["layers"]:
        for name in ("k", "v"):
            layer["self"][name] = layer["self"][name].index_select(0, rows)
