"""Decoding one 30-second window: greedy, sampling (best of n) and beam search with openai-whisper's logit rules."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import torch
from torch import Tensor

from studio.engine.asr.tokenizer import TIME_PRECISION, WhisperTokenizer
from studio.models.whisper import Whisper


@dataclass(frozen=True)
class DecodingOptions:
    task: str = "transcribe"  # or "translate"
    language: str | None = None  # None: detect (multilingual models)
    temperature: float = 0.0
    sample_len: int | None = None  # most tokens to sample; default half the text context
    best_of: int | None = None  # independent samples when temperature > 0
    beam_size: int | None = None  # beam search when temperature == 0
    patience: float | None = None
    length_penalty: float | None = None  # None: plain length normalisation
    prompt: tuple[int, ...] = ()  # previous text tokens, for context
    prefix: tuple[int, ...] = ()  # forced start of this window's text
    suppress_tokens: str | tuple[int, ...] = "-1"  # "-1": symbols and specials
    suppress_blank: bool = True
    without_timestamps: bool = False
    max_initial_timestamp: float | None = 1.0


@dataclass
class DecodingResult:
    tokens: list[int]  # text and timestamp tokens, no specials
    text: str
    language: str | None
    language_probs: dict[str, float] | None
    avg_logprob: float
    no_speech_prob: float
    temperature: float
    compression_ratio: float
    sample_begin: int = 0  # index of the first sampled token in `sequence`
    sequence: list[int] = field(default_factory=list)  # the full decoder input (prompt + sot + tokens)


def ranking_score(sum_logprob: float, length: int, length_penalty: float | None) -> float:
    """openai-whisper's MaximumLikelihoodRanker: `length` counts the text and timestamp tokens, not the end token."""
    penalty = length if length_penalty is None else ((5 + length) / 6) ** length_penalty
    return sum_logprob / max(penalty, 1e-9)


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


class LogitRules:
    """Suppression and timestamp rules applied to the logits of every step; in-place on (B, vocab)."""

    def __init__(self, tok: WhisperTokenizer, options: DecodingOptions, sample_begin: int, vocab: int) -> None:
        self.tok = tok
        self.sample_begin = sample_begin
        self.timestamps = not options.without_timestamps
        # no limit for 0 or None, as openai-whisper
        self.max_initial = (round(options.max_initial_timestamp / TIME_PRECISION)
                            if options.max_initial_timestamp else None)
        suppress: set[int] = set()
        spec = options.suppress_tokens
        ids = [int(t) for t in spec.split(",") if t.strip()] if isinstance(spec, str) else list(spec)
        if ids:  # an empty list turns all suppression off, the special tokens' too (openai-whisper's rule)
            if -1 in ids:
                suppress.update(tok.non_speech_tokens)
            suppress.update(t for t in ids if t >= 0)
            suppress.update([tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm])
            if tok.no_speech is not None:
                suppress.add(tok.no_speech)
        if self.timestamps:  # without timestamps openai-whisper applies no timestamp rule at all: none banned
            suppress.add(tok.no_timestamps)
        self.suppress = torch.tensor(sorted(t for t in suppress if t < vocab), dtype=torch.long)
        self.blank = torch.tensor([*tok.encode(" "), tok.eot]) if options.suppress_blank else None

    def apply(self, logits: Tensor, tokens: Tensor) -> Tensor:
        """logits (B, vocab); tokens (B, T) decoded so far. Returns the float32 log_softmax of the ruled logits (the
        timestamp rule computes it anyway: a second pass over B x 51864 per step was 5 % of beam search)."""
        if self.suppress.device != logits.device:  # index on the logits' device (CUDA)
            self.suppress = self.suppress.to(logits.device)
            self.blank = None if self.blank is None else self.blank.to(logits.device)
        if self.blank is not None and tokens.shape[1] == self.sample_begin:
            logits[:, self.blank] = -torch.inf
        logits[:, self.suppress] = -torch.inf
        if self.timestamps:
            return self._timestamp_rules(logits, tokens)
        return torch.log_softmax(logits.float(), dim=-1)

    def _timestamp_rules(self, logits: Tensor, tokens: Tensor) -> Tensor:
        tb, eot = self.tok.timestamp_begin, self.tok.eot
        sampled = tokens[:, self.sample_begin:]
        n = sampled.shape[1]
        if n:  # openai-whisper's per-row rules. The facts of each row come from the short token rows in one small
            # transfer; the bans are slices of one row. Full-width masks over rows x 51864 cost half a millisecond
            # per step, and openai-whisper's loop read each whole sequence back.
            is_ts = sampled >= tb
            where = torch.where(is_ts, torch.arange(n, device=tokens.device), -1).amax(dim=1)
            last_stamp = sampled.gather(1, where.clamp(min=0)[:, None])[:, 0]
            penultimate = is_ts[:, -2] if n >= 2 else torch.ones_like(is_ts[:, -1])
            facts = torch.stack([is_ts[:, -1].long(), penultimate.long(), where, last_stamp]).tolist()
            for row, (last_ts, penultimate_ts, stamp_at, stamp) in enumerate(zip(*facts, strict=True)):
                if last_ts and penultimate_ts:
                    logits[row, tb:] = -torch.inf  # a pair closed a segment: text must follow
                elif last_ts:
                    logits[row, :eot] = -torch.inf  # a segment's end: no text directly after
                if stamp_at >= 0:  # time never goes back; a segment end may repeat as the next start
                    logits[row, tb: stamp if last_ts and not penultimate_ts else stamp + 1] = -torch.inf
        if tokens.shape[1] == self.sample_begin:
            logits[:, :tb] = -torch.inf  # a window starts with a timestamp ...
            if self.max_initial is not None:
                logits[:, tb + self.max_initial + 1:] = -torch.inf  # ... not far in
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        stamp_mass = logprobs[:, tb:].logsumexp(dim=-1)
        best_text = logprobs[:, :tb].amax(dim=-1)
        ruled = stamp_mass > best_text  # timestamps together beat any text token
        if bool(ruled.any()):
            logits[ruled, :tb] = -torch.inf
            logprobs[ruled] = torch.log_softmax(logits[ruled].float(), dim=-1)
        return logprobs


class WindowDecoder:
    """Decodes one window of audio features with a given tokenizer; reusable across windows."""

    def __init__(self, model: Whisper, tok: WhisperTokenizer) -> None:
        self.model = model
        self.tok = tok

    def initial_tokens(self, options: DecodingOptions, language: str | None) -> list[int]:
        seq: list[int] = []
        n_ctx = self.model.dims.n_text_ctx
        if options.prompt:
            seq = [self.tok.sot_prev, *list(options.prompt)[-(n_ctx // 2 - 1):]]
        seq += self.tok.sot_sequence(language, options.task)
        if options.without_timestamps:
            seq.append(self.tok.no_timestamps)
        if options.prefix:  # as openai-whisper: with the default sample_len this keeps the whole prefix ([-0:])
            keep = n_ctx // 2 - (options.sample_len or n_ctx // 2)
            seq += list(options.prefix)[-keep:]
        return seq

    @torch.inference_mode()
    def detect_language(self, features: Tensor) -> dict[str, float]:
        """Probability of each language from the first decoder step. features (1, 1500, C)."""
        tokens = torch.tensor([[self.tok.sot]], device=features.device)
        logits = self.model.decoder(tokens, features)[0, -1]
        langs = torch.tensor(self.tok.all_language_tokens, device=features.device)
        probs = logits[langs].softmax(-1).tolist()
        return dict(zip(self.tok.language_codes, probs, strict=True))

    @torch.inference_mode()
    def decode(self, features: Tensor, options: DecodingOptions) -> DecodingResult:
        """features (1, 1500, C) of one window -> the best sequence under `options`."""
        language, language_probs = options.language, None
        if self.tok.multilingual and language is None:
            language_probs = self.detect_language(features)
            language = max(language_probs, key=language_probs.get)  # type: ignore[arg-type]
        if not self.tok.multilingual:
            language = language or "en"
        initial = self.initial_tokens(options, language)
        sample_begin = len(initial)
        sot_index = initial.index(self.tok.sot)
        n_ctx = self.model.dims.n_text_ctx
        # openai-whisper stops once the sequence is longer than the context: the last token is chosen, never fed
        sample_len = min(options.sample_len or n_ctx // 2, n_ctx + 1 - sample_begin)
        rules = LogitRules(self.tok, options, sample_begin, self.model.dims.n_vocab)

        if options.temperature == 0 and (options.beam_size or 1) > 1:
            n = options.beam_size or 1
            run = self._beam_search
        else:
            n = (options.best_of or 1) if options.temperature > 0 else 1
            run = self._sample
        tokens = torch.tensor([initial] * n, device=features.device)
        cache = self.model.new_cache()
        feats = features  # one row: beams share the cross-attention keys
        # every row starts from the same prompt: run it once (up to 224 tokens; five times that was 10 % of beam
        # search) and give each row a copy of its keys and values
        hidden = self.model.decoder.hidden(tokens[:1], feats, cache=cache)
        self.model.repeat_cache(cache, n)
        no_speech_prob = 0.0
        if self.tok.no_speech is not None:
            no_speech_logits = self.model.decoder.logits(hidden[:1, sot_index])
            no_speech_prob = no_speech_logits.softmax(-1)[0, self.tok.no_speech].item()
        logits = self.model.decoder.logits(hidden[:, -1]).expand(n, -1).contiguous()
        seq, sum_logprob = run(logits, tokens, feats, cache, rules, options, sample_len)

        sampled = seq[sample_begin:]
        text_tokens = sampled[: sampled.index(self.tok.eot)] if self.tok.eot in sampled else sampled
        text = self.tok.decode(text_tokens).strip()
        # the end token counts in the average whether it was decoded or the row ran out of length
        return DecodingResult(tokens=text_tokens, text=text, language=language, language_probs=language_probs,
                              avg_logprob=sum_logprob / (len(text_tokens) + 1), no_speech_prob=no_speech_prob,
                              temperature=options.temperature, compression_ratio=compression_ratio(text),
                              sample_begin=sample_begin, sequence=seq)

    def _step(self, tokens: Tensor, feats: Tensor, cache: list[dict]) -> Tensor:
        offset = tokens.shape[1] - 1
        return self.model.decoder(tokens[:, -1:], feats, cache=cache, offset=offset)[:, -1]

    def _sample(self, logits: Tensor, tokens: Tensor, feats: Tensor, cache: list[dict], rules: LogitRules,
                options: DecodingOptions, sample_len: int) -> tuple[list[int], float]:
        """Greedy (temperature 0) or sampling; with best_of > 1 the best sample under the length penalty wins."""
        eot = self.tok.eot
        n = tokens.shape[0]
        sum_logprobs = torch.zeros(n, device=tokens.device)
        done = torch.zeros(n, dtype=torch.bool, device=tokens.device)
        for i in range(sample_len):
            logprobs = rules.apply(logits, tokens)
            if options.temperature == 0:
                nxt = logits.argmax(dim=-1)
            else:
                nxt = torch.distributions.Categorical(logits=logits / options.temperature).sample()
            step_lp = logprobs.gather(1, nxt[:, None])[:, 0]
            sum_logprobs += torch.where(done, 0.0, step_lp)
            nxt = torch.where(done, eot, nxt)
            tokens = torch.cat([tokens, nxt[:, None]], dim=1)
            done |= nxt == eot
            if bool(done.all()) or i == sample_len - 1:
                break
            logits = self._step(tokens, feats, cache)
        lengths = [(row.index(eot) if eot in row else len(row)) for row in tokens[:, rules.sample_begin:].tolist()]
        scores = [ranking_score(s, n_tok, options.length_penalty)
                  for s, n_tok in zip(sum_logprobs.tolist(), lengths, strict=True)]
        best = max(range(n), key=scores.__getitem__)  # the first of equal scores, as numpy's argmax
        row = tokens[best].tolist()[: rules.sample_begin + lengths[best]] + [eot]
        return row, sum_logprobs[best].item()

    def _beam_search(self, logits: Tensor, tokens: Tensor, feats: Tensor, cache: list[dict], rules: LogitRules,
                     options: DecodingOptions, sample_len: int) -> tuple[list[int], float]:
        """Beam search over one audio: `beam` live rows; finished hypotheses collected until patience allows."""
        eot = self.tok.eot
        beam = tokens.shape[0]
        max_done = round(beam * (options.patience or 1.0))
        scores = torch.zeros(beam, device=tokens.device)
        scores[1:] = -torch.inf  # all rows start identical: expand only the first
        finished: list[tuple[float, list[int]]] = []
        for i in range(sample_len):
            logprobs = rules.apply(logits, tokens)
            # as openai-whisper: each row's best beam + 1 tokens are the candidates (enough: at most one of them
            # ends), ranked by their total in a stable sort, so equal totals keep row order
            top_lp, top_tok = logprobs.topk(beam + 1, dim=-1)
            totals = (scores[:, None] + top_lp).tolist()
            candidates = sorted(((s, row, tok) for row, (row_totals, row_tokens) in enumerate(
                zip(totals, top_tok.tolist(), strict=True)) for s, tok in zip(row_totals, row_tokens, strict=True)),
                key=lambda c: -c[0])
            keep_rows: list[int] = []
            keep_tokens: list[int] = []
            keep_scores: list[float] = []
            newly_finished: list[tuple[float, list[int]]] = []
            for s, row, tok in candidates:
                if s == -torch.inf:
                    break
                if tok == eot:  # only hypotheses that beat the last kept live one count as finished
                    newly_finished.append((s, tokens[row].tolist() + [eot]))
                    continue
                keep_rows.append(row)
                keep_tokens.append(tok)
                keep_scores.append(s)
                if len(keep_rows) == beam:
                    break
            finished.extend(newly_finished[: max(0, max_done - len(finished))])
            if not keep_rows:
                break
            while len(keep_rows) < beam:  # pad with dead rows
                keep_rows.append(keep_rows[0])
                keep_tokens.append(keep_tokens[0])
                keep_scores.append(-torch.inf)
            index = torch.tensor(keep_rows, device=tokens.device)
            tokens = torch.cat([tokens.index_select(0, index),
                                torch.tensor(keep_tokens, device=tokens.device)[:, None]], dim=1)
            scores = torch.tensor(keep_scores, device=tokens.device)
            # the live rows take this step's tokens even on the last step: they may fill the finished list below
            if len(finished) >= max_done or i == sample_len - 1:
                break
            Whisper.reorder_cache(cache, keep_rows)
            logits = self._step(tokens, feats, cache)
        if len(finished) < beam:  # ran out of length: the best live rows count as finished
            live = sorted(zip(scores.tolist(), tokens.tolist(), strict=True), key=lambda x: -x[0])
            finished += [(s, row + [eot]) for s, row in live if s > -torch.inf][: beam - len(finished)]

        best_score, best_row = max(finished, key=lambda item: ranking_score(
            item[0], len(item[1]) - rules.sample_begin - 1, options.length_penalty))
        return best_row, best_score
