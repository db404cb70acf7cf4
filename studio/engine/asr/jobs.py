"""Worker jobs for the Transcribe panel: load (cached in the registry), transcribe, attention on demand."""

from __future__ import annotations

import numpy as np

from studio.engine.asr.live import LiveFeed, LiveSession, LiveUpdate
from studio.engine.asr.options import TranscribeOptions
from studio.engine.asr.result import AttentionMap, Segment, Transcript
from studio.engine.asr.transcribe import Transcriber
from studio.errors import StudioError
from studio.worker.jobs import JobContext


def get_transcriber(ctx: JobContext, model: str, cache_dir: str | None = None) -> Transcriber:
    from studio.hub.whisper_weights import load_whisper

    def load() -> Transcriber:
        ctx.progress(0.0, f"Loading {model}…")

        def downloading(p: object) -> None:
            ctx.progress(p.done / max(1, p.total), f"Downloading {p.filename}")  # type: ignore[attr-defined]

        return Transcriber(load_whisper(model, cache_dir=cache_dir or None, progress=downloading,
                                        cancel=ctx._cancel), device=ctx.device)

    return ctx.models.get(f"whisper:{model}:{ctx.device}", load)


def transcribe_job(ctx: JobContext, source: str, model: str, options: TranscribeOptions,
                   cache_dir: str | None = None) -> Transcript:
    """Each segment is sent (ctx.send) as soon as it is decoded, so the panel shows the text as it grows."""
    transcriber = get_transcriber(ctx, model, cache_dir)
    return transcriber.transcribe(source, options, progress=ctx.progress, on_segment=ctx.send, check=ctx.check)


def attention_job(ctx: JobContext, source: str, model: str, start: float, segments: list[Segment],
                  language: str | None, task: str = "transcribe", cache_dir: str | None = None) -> AttentionMap:
    transcriber = get_transcriber(ctx, model, cache_dir)
    ctx.progress(0.5, "Computing cross-attention…")
    return transcriber.attention(source, start, segments, language, task)


_sessions: dict[str, LiveSession] = {}  # live sessions of this process, by their feed's key


def live_step_job(ctx: JobContext, feed: LiveFeed, samples: np.ndarray, model: str, final: bool = False,
                  cache_dir: str | None = None) -> LiveUpdate:
    """One step of the live session `feed` names, with the samples recorded since the last step; the session is
    created on the first step and forgotten after the final one (or a failure, which ends live mode)."""
    session = _sessions.get(feed.key)
    if session is None:
        if feed.steps > 1:  # the model process was replaced between steps: what it had heard is gone
            raise StudioError("Live transcription lost what it had heard: the model process restarted.",
                              "The recording is saved; transcribe it for the whole text.")
        session = _sessions[feed.key] = LiveSession(feed.sample_rate, feed.language, feed.task)
    session.push(samples)
    try:
        update = session.step(get_transcriber(ctx, model, cache_dir), final)
    except BaseException:
        _sessions.pop(feed.key, None)
        raise
    if final:
        _sessions.pop(feed.key, None)
    return update
