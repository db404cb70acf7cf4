"""Long files in bounded memory: peak RSS and wall time of each `studio` command on hours of audio.

Builds, in a temporary folder, a 16 kHz mono WAV of `--hours` (default 3) and a 48 kHz stereo WAV of
`--stereo-minutes` (default 20) from the speech in tests/data: pieces of 4-12 s with changing gain, pitch/speed
(resampled by up to ±10 %) and a faint noise floor, so no block repeats another. Then each command runs as its own
process, started from a small launcher (benchmarks/wholeproc.py: a child of this torch-loaded process would inherit
its peak RSS), and a table prints: command, audio length, wall seconds, peak RSS in MB, and whether it stayed
under 1 GB. The codec runs with random weights of the release architecture (the `encodec` package's model,
pretrained=False; time and memory are those of the trained weights) unless --codec-model names real ones.

    .venv/bin/python benchmarks/long_audio.py               # 3 h + 20 min: hours of CPU time
    .venv/bin/python benchmarks/long_audio.py --hours 0.1 --stereo-minutes 2   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from wholeproc import LAUNCHER  # noqa: E402

from studio.audio.io import load_audio, resample  # noqa: E402

SPEECH = ["jfk.flac", "vallex-en-1.wav", "vallex-ja-1.wav", "vallex-zh-1.wav", "encodec-test_24k.wav"]
LIMIT_MB = 1024


def build(path: Path, seconds: float, rate: int, channels: int, seed: int) -> None:
    """Speech pieces with varying gain, speed/pitch and a noise floor, written block by block."""
    rng = np.random.default_rng(seed)
    sources = [load_audio(ROOT / "tests" / "data" / name, rate) for name in SPEECH]
    variants: dict[tuple[int, int], np.ndarray] = {}
    total = int(seconds * rate)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16") as out:
        written = 0
        while written < total:
            src = int(rng.integers(len(sources)))
            factor = int(rng.integers(-4, 5))  # speed/pitch in steps of 2.5 %
            key = (src, factor)
            if key not in variants:
                variants[key] = resample(sources[src], rate, rate + factor * rate // 40)
            x = variants[key]
            n = min(int(rng.uniform(4, 12) * rate), len(x), total - written)
            start = int(rng.integers(0, len(x) - n + 1))
            piece = x[start: start + n] * rng.uniform(0.2, 1.0)
            block = np.empty((n, channels), np.float32)
            block[:, 0] = piece
            if channels == 2:  # the other side: later, quieter, its own noise
                block[:, 1] = np.roll(piece, int(rng.integers(10, 400))) * rng.uniform(0.4, 0.9)
            block += rng.normal(0, 1e-3, block.shape).astype(np.float32)
            out.write(np.clip(block, -1, 1))
            written += n


def random_codec(folder: Path, khz: int) -> Path:
    import encodec
    import torch

    torch.manual_seed(khz)
    make = encodec.EncodecModel.encodec_model_24khz if khz == 24 else encodec.EncodecModel.encodec_model_48khz
    path = folder / f"encodec_{khz}khz-random.th"
    torch.save(make(pretrained=False).state_dict(), path)
    return path


def write_codes_like(path: Path, wav: Path, model: Path) -> None:
    """Random codes as long as `wav` at the model's rate (the decoder's time and memory do not depend on them)."""
    import math

    from studio.engine.codec.files import MODEL_RATES, CodeFile, chunk_frames, write_codes

    khz = 48 if "48khz" in model.name else 24
    name = f"encodec_{khz}khz"
    rate = MODEL_RATES[name][0]
    length = math.ceil(sf.info(str(wav)).frames * rate / sf.info(str(wav)).samplerate)
    frames = sum(chunk_frames(name, length))
    codes = np.random.default_rng(0).integers(0, 1024, (8 if khz == 24 else 16, frames))
    scales = [1.0] * len(chunk_frames(name, length)) if khz == 48 else None
    write_codes(path, CodeFile(codes, name, length, scales))


def _peak_of_session(launcher: int) -> float:
    """The largest VmHWM (peak resident set, MB) among the launcher and its children."""
    peak = float("nan")
    for pid in [launcher, *_children(launcher)]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    kb = float(line.split()[1])
                    peak = kb / 1024 if peak != peak else max(peak, kb / 1024)
        except OSError:
            continue
    return peak


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    kids = [int(c) for c in found]
    return kids + [g for k in kids for g in _children(k)]


def run(cmd: list[str], timeout: float) -> dict:
    """Wall seconds, peak RSS (MB) and exit status of `cmd` in a fresh process; killed after `timeout`."""
    p = subprocess.Popen([sys.executable, "-c", LAUNCHER, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True, cwd=ROOT)
    t = time.perf_counter()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        peak = _peak_of_session(p.pid)  # read before the kill: how high it went in the time it had
        os.killpg(p.pid, signal.SIGKILL)  # the launcher's own session: it and the command it started
        p.communicate()
        return {"wall": time.perf_counter() - t, "peak_mb": peak, "rc": "stopped", "stderr": ""}
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"wall": time.perf_counter() - t, "peak_mb": float("nan"), "rc": p.returncode, "stderr": err}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=3.0, help="length of the 16 kHz mono file")
    ap.add_argument("--stereo-minutes", type=float, default=20.0, help="length of the 48 kHz stereo file")
    ap.add_argument("--codec-model", default=None, help="24 kHz EnCodec weights (default: random, see above)")
    ap.add_argument("--codec-model-48", default=None, help="48 kHz EnCodec weights (default: random)")
    ap.add_argument("--skip", default="", help="comma-separated command names to leave out, e.g. transcribe")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per command before it is killed")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    studio = [sys.executable, "-m", "studio"]
    folder = Path(tempfile.mkdtemp(prefix="studio-long-"))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, "
          f"in {folder}", flush=True)
    mono, stereo = folder / "long-16k-mono.wav", folder / "long-48k-stereo.wav"
    t = time.perf_counter()
    build(mono, args.hours * 3600, 16000, 1, 1)
    build(stereo, args.stereo_minutes * 60, 48000, 2, 2)
    print(f"# built {mono.name} ({mono.stat().st_size / 1e6:.0f} MB) and {stereo.name} "
          f"({stereo.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
    c24 = args.codec_model or str(random_codec(folder, 24))
    c48 = args.codec_model_48 or str(random_codec(folder, 48))
    plan = []
    for wav, model, tag in ((mono, c24, "16k mono"), (stereo, c48, "48k stereo")):
        ecdc, dec = folder / f"{wav.stem}.ecdc", folder / f"{wav.stem}-decoded.wav"
        plan += [
            ("codec stats", tag, wav, [*studio, "codec", "stats", str(wav), "--model", model]),
            ("codec encode", tag, wav, [*studio, "codec", "encode", str(wav), str(ecdc), "--model", model]),
            ("codec decode", tag, wav, [*studio, "codec", "decode", str(ecdc), str(dec), "--model", model]),
            ("mel", tag, wav, [*studio, "mel", str(wav), "--png", str(folder / f"{wav.stem}.png")]),
            ("transcribe", tag, wav, [*studio, "transcribe", str(wav), "--model", "tiny.en", "--beam-size", "1",
                                      "--quiet", "--output-dir", str(folder)]),
        ]
    print(f"{'command':<14} {'audio':<11} {'length':>8} {'wall s':>8} {'peak RSS MB':>12}  < 1 GB", flush=True)
    failures = 0
    for name, tag, wav, cmd in plan:
        if name.split()[-1] in skip or name in skip:
            continue
        if name == "codec decode" and not Path(cmd[4]).exists():  # encode stopped early: decode codes of full length
            write_codes_like(Path(cmd[4]), wav, Path(cmd[-1]))
        r = run(cmd, args.timeout)
        length = sf.info(str(wav)).duration
        under = r["peak_mb"] < LIMIT_MB
        ok = r["rc"] in (0, "stopped") and under
        failures += not ok
        if r["rc"] == "stopped":  # a partial run: its peak so far, not the whole file's
            status = f"{'yes' if under else 'NO'} (stopped after {args.timeout:.0f} s)"
        else:
            status = "yes" if ok else ("NO" if r["rc"] == 0 else f"exit {r['rc']}")
        print(f"{name:<14} {tag:<11} {length / 3600:>7.2f}h {r['wall']:>8.0f} {r['peak_mb']:>12.0f}  {status}",
              flush=True)
        if r["rc"] != 0 and r.get("stderr"):
            print("   " + r["stderr"].strip().splitlines()[-1][:200], flush=True)
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
