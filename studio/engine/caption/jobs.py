"""Worker jobs for captioning: BLIP is loaded once per model and device (registry); each image is a job."""

from __future__ import annotations

from studio.engine.caption.result import CaptionResult
from studio.worker.jobs import JobContext


def get_captioner(ctx: JobContext, model: str = "base", cache_dir: str | None = None,
                  precision: str = "float32") -> object:
    from studio.engine.caption.caption import Captioner
    from studio.hub.blip_weights import load_blip

    def load() -> object:
        ctx.progress(0.0, f"Loading BLIP {model}…")

        def downloading(p: object) -> None:
            ctx.progress(p.done / max(1, p.total), f"Downloading {p.filename}")  # type: ignore[attr-defined]

        net, folder = load_blip(model, cache_dir=cache_dir or None, progress=downloading, cancel=ctx._cancel)
        return Captioner(net, folder, ctx.device, precision)

    return ctx.models.get(f"blip:{model}:{ctx.device}:{precision}", load)


def caption_job(ctx: JobContext, image: str, prompt: str = "", options: object = None, model: str = "base",
                cache_dir: str | None = None, precision: str = "float32") -> CaptionResult:
    """Caption one image with every token's cross-attention kept; cancel between tokens."""
    captioner = get_captioner(ctx, model, cache_dir, precision)
    return captioner.caption(image, prompt, options, capture=True, check=ctx.check,  # type: ignore[attr-defined]
                             progress=ctx.progress)


def continue_job(ctx: JobContext, previous: CaptionResult, index: int, choice: int, options: object = None,
                 model: str = "base", cache_dir: str | None = None, precision: str = "float32") -> CaptionResult:
    """`previous` continued from alternative `choice` of its token `index` (Captioner.continue_from)."""
    captioner = get_captioner(ctx, model, cache_dir, precision)
    return captioner.continue_from(previous, index, choice, options, check=ctx.check,  # type: ignore[attr-defined]
                                   progress=ctx.progress)


def batch_job(ctx: JobContext, image: str, prompt: str = "", options: object = None, model: str = "base",
              cache_dir: str | None = None, precision: str = "float32") -> CaptionResult:
    """One picture of a folder: the caption only (no attention kept, so a thousand pictures stay small)."""
    captioner = get_captioner(ctx, model, cache_dir, precision)
    return captioner.caption(image, prompt, options, capture=False, check=ctx.check,  # type: ignore[attr-defined]
                             progress=ctx.progress)


# The panels' jobs: options arrive as a plain dict and the model as (name, precision), so the window never imports
# the decoding module (torch).

def _decode_options(options: dict[str, int]) -> object:
    from studio.engine.caption.decoding import DecodeOptions

    opts = DecodeOptions(**options)
    opts.validate()
    return opts


def caption_with(ctx: JobContext, image: str, prompt: str, options: dict[str, int], setup: tuple[str, str],
                 cache_dir: str) -> CaptionResult:
    return caption_job(ctx, image, prompt, _decode_options(options), setup[0], cache_dir or None, setup[1])


def continue_with(ctx: JobContext, previous: CaptionResult, index: int, choice: int, options: dict[str, int],
                  setup: tuple[str, str], cache_dir: str) -> CaptionResult:
    return continue_job(ctx, previous, index, choice, _decode_options(options), setup[0], cache_dir or None,
                        setup[1])


def batch_with(ctx: JobContext, image: str, prompt: str, options: dict[str, int], setup: tuple[str, str],
               cache_dir: str) -> CaptionResult:
    return batch_job(ctx, image, prompt, _decode_options(options), setup[0], cache_dir or None, setup[1])
