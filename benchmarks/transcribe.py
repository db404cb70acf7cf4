"""Transcription speed on CPU: ours vs faster-whisper (CTranslate2 fp32 and int8) vs openai-whisper, all on the same
tiny.en weights (the bundled CTranslate2 model), 2 threads, on jfk.flac (11 s) and a 5-minute file of real speech.

Prints wall time (model loaded beforehand), real-time factor, and whether the text equals ours. Each engine reads
the file itself (decoding and resampling are part of the job). Run: .venv/bin/python benchmarks/transcribe.py
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

THREADS = 2
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
torch.set_num_threads(THREADS)
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

from studio.audio.io import load_audio  # noqa: E402
from studio.engine.asr.options import TranscribeOptions  # noqa: E402
from studio.engine.asr.transcribe import Transcriber  # noqa: E402
from studio.hub.whisper_weights import bundled_folder, load_whisper  # noqa: E402


def five_minutes(folder: Path) -> Path:
    """Real speech from ../shared/data with short pauses, repeated to 300 s, 16-bit WAV at 16 kHz."""
    parts = [load_audio(DATA / n) for n in ("jfk.flac", "vallex-en-1.wav", "encodec-test_24k.wav")]
    pause = np.zeros(8000, np.float32)
    out, total = [], 0
    while total < 300 * 16000:
        for p in parts:
            out += [p, pause]
            total += len(p) + len(pause)
    path = folder / "speech-5min.wav"
    sf.write(path, np.concatenate(out)[: 300 * 16000], 16000, subtype="PCM_16")
    return path


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", text.lower())).strip()


def timed(fn, repeats: int) -> tuple[float, str]:
    times, text = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        text = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), text


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    files = [DATA / "jfk.flac", five_minutes(tmp)]
    durations = [sf.info(f).duration for f in files]
    ours = Transcriber(load_whisper("tiny.en"))
    ours_int8 = Transcriber(load_whisper("tiny.en"), int8=True)
    engines: list[tuple[str, str, object]] = []
    for beam in (5, 1):
        opts = TranscribeOptions(beam_size=beam, language="en")
        engines.append(("ours (torch fp32)", f"beam {beam}",
                        lambda f, o=opts: ours.transcribe(f, o).text))
    for beam in (5, 1):
        opts = TranscribeOptions(beam_size=beam, language="en")
        engines.append(("ours (int8 linears)", f"beam {beam}",
                        lambda f, o=opts: ours_int8.transcribe(f, o).text))
    try:
        from faster_whisper import WhisperModel

        for ctype in ("float32", "int8"):
            fw = WhisperModel(str(bundled_folder()), device="cpu", compute_type=ctype, cpu_threads=THREADS)
            for beam in (5, 1):
                engines.append((f"faster-whisper {ctype}", f"beam {beam}", lambda f, m=fw, b=beam: " ".join(
                    s.text for s in m.transcribe(str(f), beam_size=b, language="en")[0])))
    except ImportError:
        print("faster-whisper not installed: skipped", file=sys.stderr)
    try:
        import whisper
        from whisper.model import ModelDimensions
        from whisper.model import Whisper as OpenAIWhisper

        ref = OpenAIWhisper(ModelDimensions(**ours.model.dims.to_dict()))
        ref.load_state_dict(ours.model.state_dict())
        for beam in (5, None):
            engines.append(("openai-whisper", f"beam {beam or 1}", lambda f, b=beam: whisper.transcribe(
                ref, load_audio(f), beam_size=b, language="en", fp16=False)["text"]))
    except ImportError:
        print("openai-whisper not installed: skipped", file=sys.stderr)

    print(f"CPU threads {THREADS}; torch {torch.__version__}; model tiny.en (same weights for all)")
    print(f"{'engine':<24}{'decoding':<10}{'file':<18}{'wall s':>8}{'RTF':>8}  same text as ours (fp32)")
    reference: dict[tuple[str, str], str] = {}
    for name, setting, fn in engines:
        for f, dur in zip(files, durations, strict=True):
            repeats = 3 if dur < 60 else 1
            fn(f) if dur < 60 else None  # warm-up on the short file
            wall, text = timed(lambda f=f, fn=fn: fn(f), repeats)
            key = (setting, f.name)
            if name.startswith("ours (torch fp32)"):
                reference[key] = norm(text)
            same = "yes" if norm(text) == reference.get(key) else "no"
            print(f"{name:<24}{setting:<10}{f.name:<18}{wall:8.2f}{wall / dur:8.3f}  {same}", flush=True)


if __name__ == "__main__":
    main()
