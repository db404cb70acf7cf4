"""What captioning returns: the caption, its tokens with probabilities and alternatives, the beams, and the
cross-attention of every generated token over the image's patches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Candidate:
    text: str
    score: float  # summed log-probability of the whole caption over length ** length_penalty: for beams
    # transformers' sequence score; greedy (penalty 1) and continuations alike, so scores compare


@dataclass
class CaptionResult:
    source: str  # the image file ("" for a pasted image)
    text: str  # the caption, the prompt included (as transformers decodes it)
    prompt: str
    tokens: list[int]  # generated ids (the end token included when one was generated)
    pieces: list[str]  # one display string per generated id
    token_probs: list[float]  # probability of each generated token when it was chosen
    top5: list[list[tuple[str, float]]]  # per generated token: the five likeliest pieces and their probabilities
    candidates: list[Candidate]  # beams, best first (one entry for greedy)
    cross_attention: np.ndarray | None  # float32 (layers, heads, generated tokens, 1 + grid*grid): the query that
    # predicted token i looking at the class token, then the patches row by row
    grid: int  # patches per side (24 for base and large at 384 px)
    image_size: tuple[int, int]  # (width, height) of the image as shown (EXIF orientation applied)
    seconds: float = 0.0
    top5_ids: list[list[int]] = field(default_factory=list)  # the ids of `top5`, to continue from one of them

    def patch_map(self, token: int, layer: int | None = None, head: int | None = None) -> np.ndarray:
        """(grid, grid) attention of generated token `token` on the patches: one layer/head, or the mean."""
        if self.cross_attention is None:
            raise ValueError("captured without cross-attention")
        a = self.cross_attention[:, :, token, 1:]  # the class token is no place in the picture
        a = a[layer:layer + 1] if layer is not None else a
        a = a[:, head:head + 1] if head is not None else a
        return a.mean(axis=(0, 1)).reshape(self.grid, self.grid)
