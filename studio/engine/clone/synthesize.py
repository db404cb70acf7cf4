"""Text -> speech in an enrolled voice: phoneme ids, VALL-E X AR (first codebook) then NAR (codebooks 2-8), EnCodec
decode. Long text is split into sentences that each fit the model's clip length, synthesized one after another
with the voice's prompt every time (VALL-E X's "fixed prompt" mode), so one bad sentence can be redone alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from studio.engine.clone.plan import estimate_seconds
from studio.engine.clone.result import FRAME_RATE, SAMPLE_RATE, EmptyTake, Settings, Take, log_mel
from studio.errors import StudioError
from studio.models.valle import MODEL_LANGUAGE_IDS, ARCapture, VallE

AR_SHARE, NAR_SHARE = 0.75, 0.2  # of a sentence's progress; the rest is decoding

Progress = Callable[[float, str], None]
Decode = Callable[[np.ndarray], np.ndarray]  # codes int (8, N) -> float32 samples at 24 kHz


class Synthesizer:
    """A loaded VALL-E X and a codec decoder; `take` speaks one sentence."""

    def __init__(self, model: VallE, decode: Decode, device: str = "cpu") -> None:
        self.model = model
        self.decode = decode
        self.device = torch.device(device)

    def take(self, voice: object, sentence: str, language: str, settings: Settings, index: int = 0,
             progress: Progress | None = None, check: Callable[[], None] = lambda: None,
             capture: bool = True, force_frames: int | None = None) -> Take:
        """One sentence in `voice` (studio.engine.clone.voices.Voice). `check` raises to cancel (between AR
        steps and NAR stages)."""
        from studio.engine.clone.phonemes import text_to_ids

        report = progress or (lambda f, m: None)
        started = time.perf_counter()
        ph = text_to_ids(sentence, language)
        if language not in MODEL_LANGUAGE_IDS:
            raise StudioError(f"'{language}' is not a language VALL-E X speaks.", "Use en, zh or ja.")
        prompt_ids = [int(i) for i in voice.text_tokens]  # type: ignore[attr-defined]
        voice_lang = MODEL_LANGUAGE_IDS[voice.language]  # type: ignore[attr-defined]
        ids = prompt_ids + list(ph.ids)
        langs = [voice_lang] * len(prompt_ids) + [MODEL_LANGUAGE_IDS.get(lang, MODEL_LANGUAGE_IDS[language])
                                                  for lang in ph.langs]
        dev = self.device
        text = torch.tensor([ids], dtype=torch.long, device=dev)
        lang_t = torch.tensor(langs, dtype=torch.long, device=dev)
        prompt = torch.from_numpy(np.asarray(voice.audio_tokens, dtype=np.int64))[None].to(dev)  # type: ignore
        expected = max(1, int(estimate_seconds(len(ph.ids)) * FRAME_RATE))
        cap = 16 * len(ids)
        last = [0.0]

        def on_step(n: int) -> None:
            check()
            now = time.perf_counter()
            if now - last[0] > 0.1:
                last[0] = now
                report(AR_SHARE * min(0.97, n / expected), f"Sentence {index + 1}: frame {n} (≈{expected})")

        arc = ARCapture(len(ids), [[] for _ in range(self.model.cfg.n_layer)]) if capture else None
        gen = torch.Generator().manual_seed(int(settings.seed))
        report(0.0, f"Sentence {index + 1}: reading the text…")
        first = self.model.generate_ar(text, lang_t, prompt[..., 0], top_k=settings.top_k,
                                       temperature=settings.temperature, generator=gen, capture=arc,
                                       on_step=on_step, force_frames=force_frames)
        n = first.shape[1]
        if n == 0:
            raise EmptyTake(f"The model ended sentence {index + 1} before saying anything (seed {settings.seed}).",
                            "Regenerate it with another seed, or rephrase it.")
        stopped = "forced" if force_frames is not None else ("cap" if n >= cap else "end")

        def on_stage(stage: int) -> None:
            check()
            report(AR_SHARE + NAR_SHARE * stage / 7, f"Sentence {index + 1}: codebook {stage + 1} of 8")

        check()
        codes = self.model.generate_nar(text, lang_t, prompt, first, on_stage=on_stage)[0].T  # (8, N)
        codes_np = codes.to("cpu", torch.int16).numpy()
        report(AR_SHARE + NAR_SHARE, f"Sentence {index + 1}: decoding…")
        samples = np.asarray(self.decode(codes_np.astype(np.int64)), dtype=np.float32)
        attention = arc.matrix().to(torch.float16).numpy() if arc is not None else None
        report(1.0, f"Sentence {index + 1}: {len(samples) / SAMPLE_RATE:.1f} s")
        return Take(index, sentence, ph.phonemes, list(ph.ids), len(prompt_ids), codes_np, samples, settings,
                    stopped, time.perf_counter() - started, str(dev), attention, list(ph.dropped),
                    mel=log_mel(samples) if len(samples) else None,
                    attention_mean=attention.astype(np.float32).mean(axis=0) if attention is not None else None)


def encodec_decoder(codec: torch.nn.Module) -> Decode:
    """Codes -> samples with the studio's EnCodec 24 kHz (not chunked: one pass)."""
    def decode(codes: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            wav = codec.decode(torch.from_numpy(codes)[None])  # type: ignore[operator]
        return wav[0, 0].float().numpy()

    return decode

