"""One image -> a caption, with the cross-attention of every generated token kept (studio.models.blip)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from studio.engine.caption.result import Candidate, CaptionResult
from studio.engine.caption.tokenizer import CaptionTokenizer
from studio.models.blip import Blip


class Captioner:
    """A loaded BLIP with its preprocessing and tokenizer; `caption` any number of images."""

    def __init__(self, model: Blip, folder: str | Path, device: str = "cpu") -> None:
        from studio.engine.caption.image import Preprocess

        self.model = model.to(device).eval()
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
        from studio.engine.caption.decoding import DecodeOptions, decode
        from studio.engine.caption.image import open_image, pixels

        started = time.perf_counter()
        source = os.fspath(image) if isinstance(image, (str, os.PathLike)) else ""
        picture = open_image(source) if source else image
        opts = options if options is not None else DecodeOptions()
        x = torch.from_numpy(pixels(picture, self.pre))[None].to(self.device)  # type: ignore[arg-type]
        prompt_ids = self.tokenizer.prompt_ids(prompt)
        report = progress or (lambda f, m: None)

        def on_token(step: int, _tokens: object) -> None:
            check()
            report(min(0.95, step / max(1, opts.max_new_tokens)), f"token {step}")  # type: ignore[attr-defined]

        results = decode(self.model, x, prompt_ids, opts, capture=capture, check=check, on_token=on_token)
        best = results[0]
        words = self.tokenizer.pieces
        top5 = [[(words([i])[0], p) for i, p in step] for step in best.top5]
        grid = self.model.cfg.vision.grid
        text = self.tokenizer.decode
        att = None if best.cross_attention is None else np.asarray(best.cross_attention, np.float32)
        return CaptionResult(
            source=source, text=text(prompt_ids[1:] + best.tokens), prompt=prompt, tokens=list(best.tokens),
            pieces=words(best.tokens), token_probs=[math.exp(p) for p in best.token_logprobs], top5=top5,
            candidates=[Candidate(text(prompt_ids[1:] + r.tokens), r.score) for r in results],
            cross_attention=att, grid=grid, image_size=picture.size,  # type: ignore[attr-defined]
            seconds=time.perf_counter() - started)
