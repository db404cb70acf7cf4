"""Live transcription while recording.

Each step decodes the audio that is not yet final (up to 30 s) and aligns its words in time. A word becomes final
once two consecutive steps agree on it (local agreement, as in whisper_streaming); final audio leaves the buffer at
sentence ends, so a step never decodes more than about 15 s. `push` is cheap and torch-free (the UI thread calls
it with the recorder's samples); `step` runs on the worker.

The session lives where the jobs run (the model process); the window keeps a `LiveFeed`, which collects the
recorder's samples and hands them over with each step.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field

import numpy as np

from studio.audio.mel import HOP_LENGTH, SAMPLE_RATE
from studio.engine.asr.result import Segment, Word

WINDOW_S = 30.0
TRIM_AFTER_S = 15.0  # buffer length at which final audio is dropped at a sentence end
MIN_NEW_S = 0.3
DETECT_AFTER_S = 3.0  # with "detect language", the language is fixed once this much audio is in the buffer


def _key(word: Word) -> str:
    return re.sub(r"[^\w]", "", word.text.lower())


@dataclass
class LiveUpdate:
    final: list[Segment]  # every final segment so far, in order
    tentative: list[Segment]  # the current guess for the audio after them; may still change
    audio_seconds: float  # audio received so far
    language: str | None = None  # chosen or detected (None: not known yet)
    task: str = "transcribe"


@dataclass
class LiveFeed:
    """The window's side of a live session: the samples not yet handed to it, and what the session is."""

    sample_rate: int
    language: str | None = "en"
    task: str = "transcribe"
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # names the session where the jobs run
    steps: int = 0  # takes so far: the job that gets the first creates the session, later ones must find it
    _blocks: list[np.ndarray] = field(default_factory=list)
    _pending: int = 0

    def push(self, samples: np.ndarray) -> None:
        if samples.size:
            self._blocks.append(np.asarray(samples, np.float32))
            self._pending += len(samples)

    def has_new_audio(self) -> bool:
        return self._pending >= MIN_NEW_S * self.sample_rate

    def take(self) -> np.ndarray:
        """The samples pushed since the last take, for the next step."""
        blocks, self._blocks, self._pending = self._blocks, [], 0
        self.steps += 1
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


@dataclass
class LiveSession:
    sample_rate: int
    language: str | None = "en"
    task: str = "transcribe"
    _incoming: list[np.ndarray] = field(default_factory=list)
    _received: int = 0
    _decoded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # raw audio from _buffer_at on
    _buffer_at: float = 0.0
    _final: list[Word] = field(default_factory=list)
    _guess: list[Word] = field(default_factory=list)

    def push(self, samples: np.ndarray) -> None:
        """New microphone samples at `sample_rate`, mono float32 (any thread)."""
        if samples.size:
            with self._lock:
                self._incoming.append(np.asarray(samples, np.float32))
                self._received += len(samples)

    def has_new_audio(self) -> bool:
        with self._lock:
            return self._received - self._decoded >= MIN_NEW_S * self.sample_rate

    def step(self, transcriber: object, final: bool = False) -> LiveUpdate:
        """Decode the buffer once; with `final` (recording stopped) every word heard becomes final."""
        with self._lock:
            blocks, self._incoming = self._incoming, []
            self._decoded = self._received
        if blocks:
            self._buffer = np.concatenate([self._buffer, *blocks])
        words = self._decode(transcriber) if len(self._buffer) >= self.sample_rate // 2 else None
        if words is not None:
            last_end = self._final[-1].end if self._final else 0.0
            new = [w for w in words if w.start >= last_end - 0.1]
            new = self._drop_repeated_start(new)
            if final:
                agreed = new
            else:
                n = 0
                while n < min(len(new), len(self._guess)) and _key(new[n]) == _key(self._guess[n]):
                    n += 1
                # the newest word waits for a successor (at the buffer's end the model likes to add a full stop),
                # unless a second of silence already follows it
                buffer_end = self._buffer_at + len(self._buffer) / self.sample_rate
                silent_after = n == len(new) and n > 0 and buffer_end - new[-1].end >= 1.0
                agreed = new if silent_after else new[: min(n, len(new) - 1)]
            self._final += agreed
            self._guess = new[len(agreed):]
        elif final:
            self._final += self._guess
            self._guess = []
        self._trim()
        return LiveUpdate(self._segments(self._final), self._segments(self._guess), self._decoded / self.sample_rate,
                          self.language, self.task)

    def _drop_repeated_start(self, new: list[Word]) -> list[Word]:
        """The hypothesis may restate the last final words (their audio is still in the buffer)."""
        tail = [_key(w) for w in self._final[-5:]]
        for k in range(min(len(tail), len(new)), 0, -1):
            if tail[-k:] == [_key(w) for w in new[:k]]:
                return new[k:]
        return new

    def _trim(self) -> None:
        """Once the buffer is long, drop its final audio up to the last sentence end or pause."""
        buffer_s = len(self._buffer) / self.sample_rate
        if buffer_s < TRIM_AFTER_S:
            return
        end_of_buffer = self._buffer_at + buffer_s
        cuts = [self._buffer_at + buffer_s - 2.0] if not self._final and not self._guess else []  # silence
        following = [w.start for w in self._final[1:]] + [self._guess[0].start if self._guess else end_of_buffer]
        for w, next_start in zip(self._final, following, strict=True):
            if w.end > self._buffer_at and (w.text.rstrip()[-1:] in ".?!" or next_start - w.end >= 1.0):
                cuts.append(w.end if w.text.rstrip()[-1:] in ".?!" else w.end + 0.5 * (next_start - w.end))
        if not cuts and buffer_s > 25:
            cuts = [self._final[-1].end] if self._final else [end_of_buffer - 2.0]
        if not cuts:
            return
        cut = min(len(self._buffer), int(round((max(cuts) - self._buffer_at) * self.sample_rate)))
        self._buffer = self._buffer[cut:]
        self._buffer_at += cut / self.sample_rate

    def _decode(self, tr: object) -> list[Word] | None:
        """Words of the buffer with times in the recording; None when the model only repeats itself."""
        import torch

        from studio.audio.io import resample
        from studio.audio.mel import log_mel_spectrogram
        from studio.engine.asr.decoding import DecodingOptions
        from studio.engine.asr.timing import aligned_words

        audio = self._buffer if self.sample_rate == SAMPLE_RATE else resample(self._buffer, self.sample_rate,
                                                                              SAMPLE_RATE)
        audio = audio[: int(WINDOW_S * SAMPLE_RATE)]
        n_frames = len(audio) // HOP_LENGTH
        model, tok = tr.model, tr.tok  # type: ignore[attr-defined]
        mel = log_mel_spectrogram(audio, model.dims.n_mels, padding=int(WINDOW_S * SAMPLE_RATE))[:, :3000]
        mel[:, n_frames:] = 0
        features = tr.encode(mel.numpy())  # type: ignore[attr-defined]
        before = [t for w in self._final if w.end <= self._buffer_at + 0.05 for t in w.tokens]
        seconds = len(audio) / SAMPLE_RATE
        language = self._language(tr, features, seconds)
        options = DecodingOptions(task=self.task, language=language, prompt=tuple(before[-200:]),
                                  without_timestamps=True, sample_len=int(16 + 6 * seconds))
        with torch.inference_mode():
            result = tr.decoder.decode(features, options)  # type: ignore[attr-defined]
            if result.compression_ratio > 2.4 or (result.no_speech_prob > 0.6 and result.avg_logprob < -1.0):
                return None if result.compression_ratio > 2.4 else []
            start_tokens = [*tok.sot_sequence(language, self.task), tok.no_timestamps]
            words = aligned_words(model, tok, features, start_tokens, result.tokens, n_frames, language)
        for w in words:
            w.start, w.end = w.start + self._buffer_at, w.end + self._buffer_at
        return words

    def _language(self, tr: object, features: object, seconds: float) -> str:
        """The chosen language; with none chosen, detected once from the first seconds of speech (English-only
        models: English)."""
        if self.language is not None:
            return tr.resolve_language(self.language)  # type: ignore[attr-defined]
        if not tr.multilingual:  # type: ignore[attr-defined]
            self.language = "en"
            return "en"
        probs = tr.decoder.detect_language(features)  # type: ignore[attr-defined]
        best = max(probs, key=probs.get)  # type: ignore[arg-type]
        if seconds >= DETECT_AFTER_S:  # before that, a guess for this step only
            self.language = best
        return best

    @staticmethod
    def _segments(words: list[Word]) -> list[Segment]:
        """Group words into segments at sentence ends and pauses longer than a second."""
        out: list[Segment] = []
        current: list[Word] = []
        for w in words:
            if current and (current[-1].text.rstrip()[-1:] in ".?!" or w.start - current[-1].end > 1.0):
                out.append(LiveSession._segment(len(out), current))
                current = []
            current.append(w)
        if current:
            out.append(LiveSession._segment(len(out), current))
        return out

    @staticmethod
    def _segment(i: int, words: list[Word]) -> Segment:
        return Segment(i, words[0].start, words[-1].end, "".join(w.text for w in words),
                       [t for w in words for t in w.tokens], words=list(words))
