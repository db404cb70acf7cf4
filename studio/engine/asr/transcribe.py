"""Long-form transcription: 30 s windows with seek, temperature fallback, no-speech skipping, optional voice filter,
word timestamps and on-demand cross-attention maps."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from studio.audio.mel import HOP_LENGTH, SAMPLE_RATE
from studio.engine.asr.decoding import DecodingOptions, DecodingResult, WindowDecoder
from studio.engine.asr.feed import N_FRAMES, AudioFeed
from studio.engine.asr.options import TranscribeOptions
from studio.engine.asr.result import AttentionMap, Segment, Transcript
from studio.engine.asr.timing import add_word_timestamps, last_word_end, teacher_forced_attention
from studio.engine.asr.tokenizer import LANGUAGE_BY_NAME, LANGUAGES, TIME_PRECISION, WhisperTokenizer
from studio.engine.asr.vad import speech_probabilities, speech_regions
from studio.errors import JobCancelled, StudioError
from studio.hub.whisper_weights import WhisperCheckpoint
from studio.models.int8 import int8_linears
from studio.models.whisper import Whisper

INPUT_STRIDE = 2  # mel frames per audio feature
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # mel frames


Progress = Callable[[float, str], None]
PREPASS_SHARE = 0.05  # of the progress bar: the pass over the file for its loudest frame


@dataclass
class _Pass:
    """What one transcription carries from window to window."""

    feed: AudioFeed
    mel_max: float
    content_frames: int
    language: str | None
    all_tokens: list[int]  # the initial prompt's, then every kept segment's: the next window's prompt
    prompt_reset_since: int = 0
    segments: list[Segment] = field(default_factory=list)
    language_probs: dict[str, float] | None = None
    seek: int = 0  # mel frames decoded so far
    last_speech: float = 0.0  # end of the last word heard, for word timestamps after a pause


def _rms_db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20)) if len(x) else -200.0


class Transcriber:
    """Whisper weights + tokenizer + decoding rules. Create once per model; transcribe any number of inputs."""

    def __init__(self, checkpoint: WhisperCheckpoint, device: str | torch.device = "cpu",
                 int8: bool = False) -> None:
        self.name = checkpoint.name
        self.model: Whisper = checkpoint.model.to(device)
        if int8 and torch.device(device).type == "cpu":
            # a copy with int8 projections: less memory traffic per token; attention maps stay reachable
            self.model = int8_linears(self.model)  # type: ignore[assignment]
        self.device = torch.device(device)
        dims = self.model.dims
        self.tok = WhisperTokenizer(checkpoint.tokenizer_file, dims.is_multilingual, dims.num_languages)
        self.decoder = WindowDecoder(self.model, self.tok)
        self._mel_max: dict[tuple, float] = {}

    @property
    def multilingual(self) -> bool:
        return self.tok.multilingual

    def resolve_language(self, language: str | None) -> str | None:
        """A language code this model knows, from a code or an English name; None: detect it."""
        if language is None or language in ("", "auto"):
            return None if self.multilingual else "en"
        lang = LANGUAGE_BY_NAME.get(language.lower(), language.lower())
        if lang not in LANGUAGES:
            raise StudioError(f"Unknown language '{language}'.", "Use a code such as en, de, ja, or 'auto'.")
        if not self.multilingual and lang != "en":
            raise StudioError(f"The model '{self.name}' understands English only.",
                              "Pick a multilingual model (without .en) for other languages.")
        if self.multilingual and lang not in self.tok.language_codes:  # Cantonese came with large-v3's 100th token
            raise StudioError(f"The model '{self.name}' does not know {LANGUAGES[lang].title()} ({lang}).",
                              "Pick large-v3 or turbo for it, or 'auto' to detect the language.")
        return lang

    @torch.inference_mode()
    def encode(self, mel: np.ndarray) -> torch.Tensor:
        return self.model.encoder(torch.from_numpy(mel)[None].to(self.device))

    def decode_with_fallback(self, features: torch.Tensor, options: TranscribeOptions,
                             base: DecodingOptions, check: Callable[[], None]) -> DecodingResult:
        """Decode at rising temperatures until the output is neither repetitive nor improbable."""
        result: DecodingResult | None = None
        for t in options.temperatures:
            check()
            opts = replace(base, temperature=t, beam_size=options.beam_size if t == 0 else None,
                           best_of=options.best_of if t > 0 else None,
                           patience=options.patience if t == 0 else None)
            result = self.decoder.decode(features, opts)
            too_repetitive = (options.compression_ratio_threshold is not None
                              and result.compression_ratio > options.compression_ratio_threshold)
            too_unlikely = options.logprob_threshold is not None and result.avg_logprob < options.logprob_threshold
            silent = (options.no_speech_threshold is not None
                      and result.no_speech_prob > options.no_speech_threshold)
            if silent and too_unlikely:
                break  # silence: the caller skips the window, retrying would only invent words
            if not too_repetitive and not too_unlikely:
                break
        assert result is not None
        return result

    def transcribe(self, source: str | os.PathLike | np.ndarray, options: TranscribeOptions = TranscribeOptions(),
                   progress: Progress | None = None, on_segment: Callable[[Segment], None] | None = None,
                   check: Callable[[], None] = lambda: None) -> Transcript:
        """`source`: an audio file (read in blocks; hours are fine) or 16 kHz mono float32 samples.

        `on_segment` gets each segment as soon as its window is decoded. A cancel (`check` raising JobCancelled)
        or Ctrl-C (KeyboardInterrupt) while decoding raises JobCancelled whose `partial` is the transcript so far."""
        language = self.resolve_language(options.language)
        if options.task == "translate" and not self.multilingual:  # openai-whisper would silently transcribe
            raise StudioError(f"The model '{self.name}' cannot translate: it understands English only.",
                              "Pick a multilingual model (without .en) to translate into English.")
        regions = None
        feed = AudioFeed(source)
        duration = feed.source_samples / SAMPLE_RATE
        base_progress = 0.0
        if options.vad_filter:
            if progress:
                progress(0.0, "Finding speech…")
            done = [0]

            def vad_progress(n: int) -> None:
                done[0] += n
                if progress:
                    progress(0.1 * done[0] / max(1, feed.source_samples), "Finding speech…")

            probs = speech_probabilities(AudioFeed(source).blocks, check, vad_progress)
            regions = speech_regions(probs, feed.source_samples, options.vad)
            feed = AudioFeed(source, regions)
            base_progress = 0.1
        mel_max = self._log_mel_max(source, regions, check, progress, base_progress)
        base_progress += PREPASS_SHARE
        prompt_tokens: list[int] = []
        if options.initial_prompt:
            prompt_tokens = self.tok.encode(" " + options.initial_prompt.strip())
        state = _Pass(feed=feed, mel_max=mel_max, content_frames=feed.total // HOP_LENGTH, language=language,
                      all_tokens=list(prompt_tokens))
        try:
            while state.seek < state.content_frames:
                check()
                self._window(state, options, check, on_segment)
                self._report(progress, base_progress, state.seek, state.content_frames, len(state.segments))
        except (JobCancelled, KeyboardInterrupt) as stop:  # what is decoded stays usable, language and task too
            partial = self._transcript(source, state.language, options.task, duration, state.segments,
                                       state.language_probs)
            if isinstance(stop, KeyboardInterrupt):  # Ctrl-C in the CLI: the same as the panel's cancel
                raise JobCancelled(partial) from stop
            stop.partial = partial
            raise
        return self._transcript(source, state.language, options.task, duration, state.segments,
                                state.language_probs)

    def _window(self, state: _Pass, options: TranscribeOptions, check: Callable[[], None],
                on_segment: Callable[[Segment], None] | None) -> None:
        """Decode the 30 s window at `state.seek`, append its segments and move `state.seek` past what it used."""
        feed, seek, content_frames = state.feed, state.seek, state.content_frames
        mel, samples = feed.mel_window(seek, self.model.dims.n_mels, state.mel_max)
        segment_size = min(N_FRAMES, content_frames - seek)
        mel[:, segment_size:] = 0  # past the end the model was trained on zeros, as openai-whisper pads
        window_db = _rms_db(samples[: segment_size * HOP_LENGTH])
        if options.silence_db is not None and window_db < options.silence_db:
            state.seek += segment_size  # digital silence: Whisper would only invent a "you" or "Thank you."
            return
        time_offset = seek * HOP_LENGTH / SAMPLE_RATE
        features = self.encode(mel)
        if state.language is None:
            state.language_probs = self.decoder.detect_language(features)
            state.language = max(state.language_probs, key=state.language_probs.get)  # type: ignore[arg-type]
        language = state.language
        base = DecodingOptions(task=options.task, language=language,
                               prompt=tuple(state.all_tokens[state.prompt_reset_since:]),
                               suppress_tokens=options.suppress_tokens,
                               without_timestamps=options.without_timestamps,
                               length_penalty=options.length_penalty)
        result = self.decode_with_fallback(features, options, base, check)
        if (options.no_speech_threshold is not None and result.no_speech_prob > options.no_speech_threshold
                and not (options.logprob_threshold is not None and result.avg_logprob > options.logprob_threshold)):
            state.seek += segment_size  # silence
            return
        new, raw, advance, single_ending = self._split(result, time_offset, segment_size)
        if options.word_timestamps:
            add_word_timestamps(self.model, self.tok, features, self._start_tokens(language, options.task),
                                new, segment_size, time_offset, language, state.last_speech)
            end = last_word_end(new)
            if not single_ending and end is not None and end > time_offset:
                advance = round(end * FRAMES_PER_SECOND) - seek  # resume after the last word
            if end is not None:
                state.last_speech = end
        # an instantaneous or empty segment is dropped, and so are its tokens from the next prompt
        kept = [i for i, s in enumerate(new) if s.start != s.end and s.text.strip()]
        new = [new[i] for i in kept]
        state.all_tokens.extend(t for i in kept for t in raw[i])
        for s in new:
            s.start, s.end = feed.source_time(s.start), feed.source_time(s.end)
            for w in s.words:
                w.start, w.end = feed.source_time(w.start), feed.source_time(w.end)
            if not s.text.strip():
                continue
            s.id = len(state.segments)
            state.segments.append(s)
            if on_segment is not None:
                on_segment(s)
        if not options.condition_on_previous_text or result.temperature > 0.5:
            state.prompt_reset_since = len(state.all_tokens)
        state.seek += advance

    def _transcript(self, source: str | os.PathLike | np.ndarray, language: str | None, task: str, duration: float,
                    segments: list[Segment], language_probs: dict[str, float] | None) -> Transcript:
        return Transcript(source="" if isinstance(source, np.ndarray) else os.fspath(source), model=self.name,
                          language=language or "en", task=task, duration=duration, segments=segments,
                          language_probs=language_probs)

    def _log_mel_max(self, source: str | os.PathLike | np.ndarray, regions: list[tuple[int, int]] | None,
                     check: Callable[[], None] = lambda: None, progress: Progress | None = None,
                     base: float = 0.0) -> float:
        """Whisper normalises with the whole stream's loudest frame, which takes a pass over the file (shown as
        the first PREPASS_SHARE of the progress after `base`): done once per file (and speech regions), so
        attention maps of a transcribed hour need no second read."""
        feed_progress = None
        if progress is not None:
            def feed_progress(fraction: float) -> None:
                progress(base + PREPASS_SHARE * fraction, "Reading audio…")

        if isinstance(source, np.ndarray):
            return AudioFeed(source, regions).log_mel_max(self.model.dims.n_mels, check, feed_progress)
        stat = os.stat(source)
        key = (os.fspath(source), stat.st_mtime_ns, stat.st_size, None if regions is None else tuple(regions))
        if key not in self._mel_max:
            self._mel_max[key] = AudioFeed(source, regions).log_mel_max(self.model.dims.n_mels, check,
                                                                        feed_progress)
        return self._mel_max[key]

    @staticmethod
    def _report(progress: Progress | None, base: float, seek: int, total: int, n: int) -> None:
        if progress:
            frac = base + (1 - base) * min(1.0, seek / max(1, total))
            progress(frac, f"{seek * HOP_LENGTH / SAMPLE_RATE:.0f} s transcribed, {n} segments")

    def _split(self, result: DecodingResult, time_offset: float,
               segment_size: int) -> tuple[list[Segment], list[list[int]], int, bool]:
        """Cut the window's tokens into segments at timestamp pairs. Returns the segments, their raw tokens
        (timestamps included: the next window's prompt), how far to seek, and whether the window ended on a
        single timestamp (all of it consumed)."""
        tb = self.tok.timestamp_begin
        tokens = result.tokens
        is_ts = [t >= tb for t in tokens]
        single_ending = len(tokens) >= 2 and not is_ts[-2] and is_ts[-1]
        consecutive = [i + 1 for i in range(len(tokens) - 1) if is_ts[i] and is_ts[i + 1]]

        def segment(toks: list[int], start: float, end: float) -> Segment:
            text_tokens = [t for t in toks if t < self.tok.eot]
            return Segment(0, start, end, self.tok.decode(text_tokens), text_tokens, result.avg_logprob,
                           result.no_speech_prob, result.compression_ratio, result.temperature)

        out: list[Segment] = []
        raw: list[list[int]] = []
        if consecutive:
            slices = consecutive + ([len(tokens)] if single_ending else [])
            last = 0
            for cut in slices:
                piece = tokens[last:cut]
                out.append(segment(piece, time_offset + (piece[0] - tb) * TIME_PRECISION,
                                   time_offset + (piece[-1] - tb) * TIME_PRECISION))
                raw.append(piece)
                last = cut
            if single_ending:
                advance = segment_size
            else:
                advance = (tokens[last - 1] - tb) * INPUT_STRIDE
        else:
            duration = segment_size * HOP_LENGTH / SAMPLE_RATE
            stamps = [t for t in tokens if t >= tb]
            if stamps and stamps[-1] != tb:
                duration = (stamps[-1] - tb) * TIME_PRECISION
            out.append(segment(tokens, time_offset, time_offset + duration))
            raw.append(tokens)
            advance = segment_size
        return out, raw, max(1, advance), single_ending

    def _start_tokens(self, language: str | None, task: str) -> list[int]:
        return [*self.tok.sot_sequence(language, task), self.tok.no_timestamps]

    @torch.inference_mode()
    def attention(self, source: str | os.PathLike | np.ndarray, start: float, segments: list[Segment],
                  language: str | None, task: str = "transcribe") -> AttentionMap:
        """Cross-attention of the text of `segments` over the 30 s of audio from `start` (computed now)."""
        feed = AudioFeed(source)
        seek = int(round(start * SAMPLE_RATE / HOP_LENGTH))
        n_mels = self.model.dims.n_mels
        mel, _ = feed.mel_window(seek, n_mels, self._log_mel_max(source, None))
        end = min(start + 30.0, feed.source_samples / SAMPLE_RATE)
        mel[:, int((end - start) * SAMPLE_RATE / HOP_LENGTH):] = 0
        features = self.encode(mel)
        text_tokens = [t for s in segments if s.start < end and s.end > start for t in s.tokens]
        lang = language if self.multilingual else "en"
        tokens = [*self._start_tokens(lang, task), *text_tokens, self.tok.eot]
        weights, _ = teacher_forced_attention(self.model, features, tokens)
        n_frames = max(1, int(round((end - start) * SAMPLE_RATE / HOP_LENGTH)) // INPUT_STRIDE)
        weights = weights[..., :n_frames]
        weights = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)
        return AttentionMap(start=start, weights=weights.float().cpu().numpy(), tokens=tokens,
                            token_texts=[self.tok.token_text(t) for t in tokens],
                            text_begin=len(tokens) - len(text_tokens) - 1,
                            alignment_heads=list(self.model.alignment_heads),
                            mel=mel[:, : n_frames * INPUT_STRIDE])
