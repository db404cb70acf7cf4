"""One image -> a caption, with the cross-attention of every generated token kept (studio.models.blip); and the
same caption continued from one of a token's alternatives."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from studio.engine.caption.decoding import Result
from studio.engine.caption.result import Candidate, CaptionResult
from studio.engine.caption.tokenizer import CaptionTokenizer
from studio.errors import StudioError
from studio.models.blip import Blip


class Captioner:
    """A loaded BLIP with its preprocessing and tokenizer; `caption` any number of images."""

    def __init__(self, model: Blip, folder: str | Path, device: str = "cpu", precision: str = "float32") -> None:
        """`precision`: float32 (transformers' captions exactly) or fast (studio.models.blip.make_fast)."""
        from studio.engine.caption.image import Preprocess
        from studio.models.blip import PRECISIONS, make_fast

        if precision not in PRECISIONS:
            raise StudioError(f"Unknown captioning precision '{precision}'.", f"Use {' or '.join(PRECISIONS)}.")
        self.model = model.to(device).eval()
        if precision == "fast":
            make_fast(self.model, device)
        self.device = torch.device(device)
        folder = Path(folder)
        config = folder / "preprocessor_config.json"
        self.pre = Preprocess.from_file(config) if config.exists() else Preprocess()
        text = model.cfg.text
        self.tokenizer = CaptionTokenizer(folder, text.bos_token_id, text.sep_token_id)

    def caption(self, image: str | os.PathLike | object, prompt: str = "", options: object = None,
                capture: bool = True, check: Callable[[], None] = lambda: None,
                progress: Callable[[float, str], None] | None = None) -> CaptionResult:
        """`image`: a file path or a PIL image. `options`: studio.engine.caption.decoding.DecodeOptions."""
        from studio.engine.caption.decoding import DecodeOptions

        started = time.perf_counter()
        source, picture = self._open(image)
        opts = options if options is not None else DecodeOptions()
        results = self._decode(picture, self.tokenizer.prompt_ids(prompt), opts, capture, check, progress)
        return self._result(source, picture, prompt, [], results, started, penalty=_penalty(opts))

    def check(self, prompt: str, options: object) -> None:
        """Refuse bad options or a prompt too long for the model before any picture is read (a batch says so once)."""
        from studio.engine.caption.decoding import check_length

        options.validate()  # type: ignore[attr-defined]
        check_length(self.model, self.tokenizer.prompt_ids(prompt), options)  # type: ignore[arg-type]

    def continue_from(self, previous: CaptionResult, index: int, choice: int, options: object = None,
                      image: object = None, check: Callable[[], None] = lambda: None,
                      progress: Callable[[float, str], None] | None = None) -> CaptionResult:
        """`previous` with generated token `index` replaced by its alternative `choice` (previous.top5_ids), the
        caption decoded on from there. The tokens before it and the replacement keep their probabilities,
        alternatives and attention: the same queries, over the same prefix, predicted them. `options` counts
        lengths from the prompt, as the first caption did. `image`: a PIL image when previous.source is ""."""
        from studio.engine.caption.decoding import DecodeOptions

        started = time.perf_counter()
        if not 0 <= index < len(previous.tokens) or not 0 <= choice < len(previous.top5_ids[index]):
            raise StudioError(f"There is no alternative {choice + 1} for token {index + 1} of the caption.",
                              "Pick one of the listed alternatives.")
        self._check_same_model(previous)
        source, picture = self._open(image if image is not None else previous.source)
        opts = options if options is not None else DecodeOptions()
        prefix = [*previous.tokens[:index], previous.top5_ids[index][choice]]
        kept = _head(previous, index, choice)
        left = opts.max_new_tokens - len(prefix)  # type: ignore[attr-defined]
        if prefix[-1] == self.tokenizer.sep or left < 1:  # the caption ends with the chosen token
            empty = Result([], 0.0, [], [], self._no_rows() if previous.cross_attention is not None else None)
            return self._result(source, picture, previous.prompt, prefix, [empty], started, kept, _penalty(opts))
        rest = replace(opts, max_new_tokens=left,  # type: ignore[type-var]
                       min_new_tokens=max(0, opts.min_new_tokens - len(prefix)))  # type: ignore[attr-defined]
        prompt_ids = self.tokenizer.prompt_ids(previous.prompt) + prefix
        capture = previous.cross_attention is not None
        results = self._decode(picture, prompt_ids, rest, capture, check, progress)
        return self._result(source, picture, previous.prompt, prefix, results, started, kept, _penalty(opts))

    def _no_rows(self) -> np.ndarray:
        """The attention of a decode that generated nothing: (layers, heads, 0, image tokens)."""
        cfg = self.model.cfg
        return np.zeros((cfg.text.num_hidden_layers, cfg.text.num_attention_heads, 0, 1 + cfg.vision.grid ** 2),
                        np.float32)

    def _check_same_model(self, r: CaptionResult) -> None:
        """A caption continues only on the model that wrote it: another one's ids and attention do not fit."""
        cfg = self.model.cfg
        shape = (cfg.text.num_hidden_layers, cfg.text.num_attention_heads, 1 + cfg.vision.grid ** 2)
        att = r.cross_attention
        if (r.grid != cfg.vision.grid or any(not 0 <= i < cfg.text.vocab_size for i in r.tokens)
                or (att is not None and (att.shape[0], att.shape[1], att.shape[3]) != shape)):
            raise StudioError("This caption was written by another captioning model than the one chosen now.",
                              "Pick the model that wrote it again, or caption the picture with this one.")

    def _open(self, image: object) -> tuple[str, object]:
        from studio.engine.caption.image import open_image

        if isinstance(image, (str, os.PathLike)):
            if not os.fspath(image):
                raise StudioError("The picture of this caption is gone.", "Open the picture again.")
            return os.fspath(image), open_image(os.fspath(image))
        return "", image

    def _decode(self, picture: object, prompt_ids: list[int], opts: object, capture: bool,
                check: Callable[[], None], progress: Callable[[float, str], None] | None) -> list:
        from studio.engine.caption.decoding import decode
        from studio.engine.caption.image import pixels

        x = torch.from_numpy(pixels(picture, self.pre))[None].to(self.device)  # type: ignore[arg-type]
        report = progress or (lambda f, m: None)

        def on_token(step: int, _tokens: object) -> None:
            check()
            report(min(0.95, step / max(1, opts.max_new_tokens)), f"token {step}")  # type: ignore[attr-defined]

        return decode(self.model, x, prompt_ids, opts, capture=capture, check=check,  # type: ignore[arg-type]
                      on_token=on_token)

    def _result(self, source: str, picture: object, prompt: str, prefix: list[int], results: list, started: float,
                kept: _Head | None = None, penalty: float = 1.0) -> CaptionResult:
        """A CaptionResult of `prefix` (tokens chosen before this run, described by `kept`) + the best result."""
        best = results[0]
        words, text = self.tokenizer.pieces, self.tokenizer.decode
        start = self.tokenizer.prompt_ids(prompt)[1:] + prefix
        head = kept or _Head([], [], [], None)
        att = None if best.cross_attention is None else np.asarray(best.cross_attention, np.float32)
        if head.attention is not None and att is not None:
            att = np.concatenate([head.attention, att], axis=2)
        tokens = prefix + list(best.tokens)
        head_sum = sum(math.log(max(p, 1e-45)) for p in head.probs)

        def score(r: object) -> float:  # the whole caption's, however many runs wrote it
            n = len(prefix) + len(r.tokens)  # type: ignore[attr-defined]
            return (head_sum + sum(r.token_logprobs)) / max(1, n) ** penalty  # type: ignore[attr-defined]

        return CaptionResult(
            source=source, text=text(start + best.tokens), prompt=prompt, tokens=tokens, pieces=words(tokens),
            token_probs=head.probs + [math.exp(p) for p in best.token_logprobs],
            top5=head.top5 + [[(words([i])[0], p) for i, p in step] for step in best.top5],
            top5_ids=head.top5_ids + [[i for i, _p in step] for step in best.top5],
            candidates=[Candidate(text(start + r.tokens), score(r)) for r in results],
            cross_attention=att, grid=self.model.cfg.vision.grid,
            image_size=picture.size, seconds=time.perf_counter() - started)  # type: ignore[attr-defined]


def _penalty(opts: object) -> float:
    """transformers divides a beam's summed log-probability by length ** length_penalty; greedy gets the mean."""
    return float(opts.length_penalty) if opts.beam_size > 1 else 1.0  # type: ignore[attr-defined]


class _Head:
    """What a continuation keeps of the caption it continues: per kept token its probability, alternatives and
    attention row."""

    def __init__(self, probs: list[float], top5: list, top5_ids: list[list[int]], attention: np.ndarray | None):
        self.probs, self.top5, self.top5_ids, self.attention = probs, top5, top5_ids, attention


def _head(r: CaptionResult, index: int, choice: int) -> _Head:
    probs = [*r.token_probs[:index], r.top5[index][choice][1]]
    att = None if r.cross_attention is None else r.cross_attention[:, :, :index + 1]
    return _Head(probs, r.top5[:index + 1], r.top5_ids[:index + 1], att)
