"""Transcription speed on CPU: Voice Studio vs faster-whisper vs openai-whisper, on the same tiny.en weights (the
bundled CTranslate2 folder; openai-whisper gets the same tensors saved as its .pt), 2 threads, beam 5 and greedy,
on jfk.flac and on speech that never repeats (benchmarks/corpus.py).

Every engine reads the file from its path itself (ours: libsndfile; faster-whisper: PyAV; openai-whisper: ffmpeg).
A. In-process: each engine configuration runs in its own fresh process, which reports import, model load and the
   first transcription (cold), then warms up on a different file and times transcriptions of fresh copies of the
   file (a new path each run, so no per-file memo such as the log-mel maximum can help): warm.
B. Whole process: `studio transcribe` against a faster-whisper script and openai-whisper's `whisper` command, each
   a fresh process from exec to exit (the file is in the OS page cache), several runs, min and median.
WER is against the text spoken (benchmarks/corpus.py); "same" compares the words with ours (fp32, same decoding).
"load" is the 1-minute load average when the row was printed: above the 2 threads used, other work shared the CPU
(and OpenMP's spinning threads make contended timings many times slower): rerun such rows on a quiet machine.

Run: .venv/bin/python benchmarks/transcribe.py [--quick]   (--quick: jfk and the 90 s file, fewer runs)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe
from wholeproc import whole_process

THREADS = 2
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BIN = Path(sys.executable).parent
WARMUP_FILE = DATA / "vallex-en-1.wav"  # never a timed file
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}

ENGINES = {  # name -> (label, compute)
    "ours": ("Voice Studio (torch fp32)", "fp32"),
    "ours-int8": ("Voice Studio --int8", "int8"),
    "fw": ("faster-whisper fp32", "float32"),
    "fw-int8": ("faster-whisper int8", "int8"),
    "openai": ("openai-whisper (torch fp32)", "fp32"),
}

FW_SCRIPT = """
import sys, pathlib
from faster_whisper import WhisperModel
path, out, folder, beam, ctype = sys.argv[1:6]
model = WhisperModel(folder, device="cpu", compute_type=ctype, cpu_threads=THREADS)
segments, _ = model.transcribe(path, beam_size=int(beam), language="en")
pathlib.Path(out, pathlib.Path(path).stem + ".txt").write_text("\\n".join(s.text.strip() for s in segments) + "\\n")
""".replace("THREADS", str(THREADS))


# ---- the child: one engine configuration in a fresh process --------------------------------------------------

def child(spec: dict) -> None:
    engine, beam, path, runs = spec["engine"], spec["beam"], Path(spec["file"]), spec["runs"]
    t0 = time.perf_counter()
    if engine.startswith("ours"):
        import torch

        from studio.engine.asr.options import TranscribeOptions
        from studio.engine.asr.transcribe import Transcriber
        from studio.hub.whisper_weights import load_whisper

        torch.set_num_threads(THREADS)
        t1 = time.perf_counter()
        tr = Transcriber(load_whisper("tiny.en"), int8=engine == "ours-int8")
        opts = TranscribeOptions(language="en", beam_size=beam)

        def run(f: Path) -> str:
            return tr.transcribe(f, opts).text

        def forget() -> None:  # belt and braces: a fresh path already misses every per-file memo
            getattr(tr, "_mel_max", {}).clear()
    elif engine.startswith("fw"):
        from faster_whisper import WhisperModel

        t1 = time.perf_counter()
        # the folder comes from the parent: looking it up here imported studio.hub, and with it torch, into
        # faster-whisper's import time
        fw = WhisperModel(spec["folder"], device="cpu", compute_type=ENGINES[engine][1], cpu_threads=THREADS)

        def run(f: Path) -> str:
            return " ".join(s.text for s in fw.transcribe(str(f), beam_size=beam, language="en")[0])

        def forget() -> None:
            pass
    else:
        import torch
        import whisper

        torch.set_num_threads(THREADS)
        t1 = time.perf_counter()
        ow = whisper.load_model(spec["pt"], device="cpu")

        def run(f: Path) -> str:
            return ow.transcribe(str(f), beam_size=beam if beam > 1 else None, best_of=5, language="en",
                                 fp16=False)["text"]

        def forget() -> None:
            pass
    t2 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp())

    def fresh(i: int) -> Path:
        copy = tmp / f"run{i}-{path.name}"
        shutil.copyfile(path, copy)
        return copy

    f = fresh(0)
    t3 = time.perf_counter()
    cold_text = run(f)
    cold = time.perf_counter() - t3
    run(WARMUP_FILE)
    warm, text = [], cold_text
    for i in range(runs):
        f = fresh(i + 1)
        forget()
        t = time.perf_counter()
        text = run(f)
        warm.append(time.perf_counter() - t)
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"import": t1 - t0, "load": t2 - t1, "cold": cold, "warm": warm, "text": text,
                      "cold_text_equal": words(cold_text) == words(text)}))


# ---- the parent ---------------------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


def openai_checkpoint(folder: Path) -> Path:
    """The bundled tiny.en tensors in openai-whisper's own .pt format (names are the same as ours)."""
    import torch

    from studio.hub.whisper_weights import load_whisper

    pt = folder / "tiny.en-from-bundled.pt"
    if not pt.exists():
        model = load_whisper("tiny.en").model
        torch.save({"dims": model.dims.to_dict(), "model_state_dict": model.state_dict()}, pt)
    return pt


def run_child(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                         env=ENV, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{spec['engine']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli_command(engine: str, path: Path, out: Path, beam: int, pt: Path, folder: Path) -> list[str]:
    if engine.startswith("ours"):
        return [str(BIN / "studio"), "transcribe", str(path), "--model", "tiny.en", "--language", "en",
                "--beam-size", str(beam), "--output-format", "txt", "-o", str(out), "--threads", str(THREADS),
                *(["--int8"] if engine == "ours-int8" else [])]
    if engine.startswith("fw"):
        return [sys.executable, "-c", FW_SCRIPT, str(path), str(out), str(folder), str(beam), ENGINES[engine][1]]
    return [str(BIN / "whisper"), str(path), "--model", str(pt), "--language", "en", "--beam_size", str(beam),
            "--output_format", "txt", "--output_dir", str(out), "--fp16", "False", "--threads", str(THREADS)]


def cli_shown(engine: str, beam: int) -> str:
    if engine.startswith("ours"):
        return f"studio transcribe F --model tiny.en --language en --beam-size {beam} -f txt -o D --threads 2" + (
            " --int8" if engine == "ours-int8" else "")
    if engine.startswith("fw"):
        return (f"python -c '<WhisperModel(bundled, compute_type={ENGINES[engine][1]}, cpu_threads=2)"
                f".transcribe(F, beam_size={beam}, language=en) -> D/F.txt>'")
    return f"whisper F --model tiny.en.pt --language en --beam_size {beam} --output_format txt --fp16 False --threads 2"


def versions() -> str:
    import importlib.metadata as md

    def v(p: str) -> str:
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return "missing"

    ff = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0].split()[2:3]
    return (f"torch {v('torch')}, faster-whisper {v('faster-whisper')} (ctranslate2 {v('ctranslate2')}), "
            f"openai-whisper {v('openai-whisper')}, ffmpeg {ff[0] if ff else 'missing'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--quick", action="store_true", help="jfk.flac and the 90 s file only, fewer runs")
    ap.add_argument("--runs", type=int, default=3, help="warm runs per engine and file (in-process)")
    ap.add_argument("--cli-runs", type=int, default=3, help="whole-process runs per command and file")
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--skip-inprocess", action="store_true")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--files", default="jfk,90,300", help="which of jfk, 90 (s corpus), 300 (s corpus)")
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from corpus import CACHE, corpus, wer

    if shutil.which("ffmpeg") is None:
        sys.exit("openai-whisper reads files through ffmpeg: install it (apt-get install ffmpeg) and run again.")
    import soundfile as sf

    from studio.hub.whisper_weights import bundled_folder

    engines = [e for e in args.engines.split(",") if e]
    if args.quick:
        args.runs, args.cli_runs = min(args.runs, 2), min(args.cli_runs, 2)
    c90, c300 = corpus(90), corpus(300)  # built once, then cached
    jfk_ref = ("And so my fellow Americans, ask not what your country can do for you, "
               "ask what you can do for your country.")
    files = [(DATA / "jfk.flac", jfk_ref, "11.0 s of real speech (44.1 kHz stereo FLAC)"),
             (c90.path, c90.reference, c90.describe()), (c300.path, c300.reference, c300.describe())]
    wanted = args.files.split(",") if not args.quick else ["jfk", "90"]
    files = [x for x, k in zip(files, ("jfk", "90", "300"), strict=True) if k in wanted]
    CACHE.mkdir(parents=True, exist_ok=True)
    pt = openai_checkpoint(CACHE)
    folder = bundled_folder()

    print(f"Transcription benchmark, {time.strftime('%Y-%m-%d %H:%M')}; {describe()}")
    print(f"{THREADS} threads everywhere; {versions()}; load average {os.getloadavg()[0]:.1f} at the start")
    print("Model tiny.en, the same weights for every engine (the bundled CTranslate2 folder; openai-whisper loads the "
          "same tensors saved as its .pt). Every engine reads the file from its path itself.")
    print("Files:")
    for f, _, what in files:
        print(f"  {what if what.startswith(f.name) else f'{f.name}: {what}'}")
    dur = {f: sf.info(f).duration for f, _, _ in files}
    short = {f: f.name if f.name == "jfk.flac" else f"{dur[f]:.0f} s corpus" for f, _, _ in files}

    if not args.skip_inprocess:
        print(f"\nA. In-process. Each engine in a fresh process: import, model load, first transcription (cold); then "
              f"a warm-up on {WARMUP_FILE.name} and {args.runs} runs on fresh copies of the file (warm; no per-file "
              f"memo can help).")
        print(f"{'engine':<28}{'decode':<8}{'file':<15}{'import s':>9}{'load s':>8}{'cold s':>8}{'warm s':>8}"
              f"{'min s':>7}{'RTF':>7}{'x ours':>7}{'WER %':>7}{'load':>6}  same as ours")
        base: dict[tuple, float] = {}
        texts: dict[tuple, str] = {}
        for f, ref, _ in files:
            for beam in (5, 1):
                for e in engines:
                    r = run_child({"engine": e, "beam": beam, "file": str(f), "runs": args.runs, "pt": str(pt),
                                   "folder": str(folder)})
                    warm = statistics.median(r["warm"])
                    if e == "ours":
                        base[(f, beam)], texts[(f, beam)] = warm, r["text"]
                    ratio = f"{warm / base[(f, beam)]:.2f}" if (f, beam) in base else "-"
                    same = ("yes" if words(r["text"]) == words(texts[(f, beam)]) else "no") if (f, beam) in texts \
                        else "-"
                    note = "" if r["cold_text_equal"] else " (cold run's text differs)"
                    print(f"{ENGINES[e][0]:<28}{'beam 5' if beam == 5 else 'greedy':<8}{short[f]:<15}"
                          f"{r['import']:>9.2f}{r['load']:>8.2f}{r['cold']:>8.2f}{warm:>8.2f}{min(r['warm']):>7.2f}"
                          f"{warm / dur[f]:>7.3f}{ratio:>7}{wer(ref, r['text']):>7.1f}{os.getloadavg()[0]:>6.1f}"
                          f"  {same}{note}", flush=True)

    if not args.skip_cli:
        print(f"\nB. Whole process, beam 5: a fresh process per run from exec to exit (interpreter start, imports, "
              f"model load, reading, decoding, writing the .txt); one uncounted run first, then {args.cli_runs} "
              "runs, the commands taking turns.")
        for e in engines:
            print(f"  {ENGINES[e][0]:<28}{cli_shown(e, 5)}")
        print(f"{'engine':<28}{'file':<15}{'min s':>8}{'median s':>10}{'x ours':>8}{'peak MB':>9}{'WER %':>7}"
              f"{'load':>6}  same as ours")
        for f, ref, _ in files:
            times: dict[str, list[float]] = {e: [] for e in engines}
            rss: dict[str, float] = {}
            outs = {e: Path(tempfile.mkdtemp(prefix=f"cli-{e}-")) for e in engines}
            for i in range(args.cli_runs + 1):
                for e in engines:
                    wall, mb = whole_process(cli_command(e, f, outs[e], 5, pt, folder), ENV, ROOT)
                    if i:
                        times[e].append(wall)
                        rss[e] = max(rss.get(e, 0.0), mb)
            text = {e: (outs[e] / f"{f.stem}.txt").read_text() for e in engines}
            load = os.getloadavg()[0]
            for e in engines:
                med = statistics.median(times[e])
                ratio = f"{med / statistics.median(times['ours']):.2f}" if "ours" in times else "-"
                same = ("yes" if words(text[e]) == words(text["ours"]) else "no") if "ours" in text else "-"
                print(f"{ENGINES[e][0]:<28}{short[f]:<15}{min(times[e]):>8.2f}{med:>10.2f}{ratio:>8}{rss[e]:>9.0f}"
                      f"{wer(ref, text[e]):>7.1f}{load:>6.1f}  {same}", flush=True)
                shutil.rmtree(outs[e], ignore_errors=True)


if __name__ == "__main__":
    main()
