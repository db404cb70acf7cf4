"""Voice cloning speed: VALL-E X at the release size (370.5 M parameters) on random weights (the real checkpoint
needs a download), prompted with the real preset tests/data/vallex-preset-librispeech_1.npz (3 s, 58 text ids).

Text: passages of the US Declaration of Independence (benchmarks/corpus.py's text; nothing repeats), phonemized
by the studio's VALL-E X text frontend.

A. Ours, each precision in a fresh process (float32; fast = int8 AR + bfloat16 NAR on a CPU):
   cold  = import + load the 1.5 GB checkpoint + the first synthesis of 10 s of speech (750 AR frames, forced
           length: random weights never say the end token) + EnCodec decode;
   warm  = the same synthesis again in that process;
   AR frames/s with the KV cache, and recomputing the whole sequence each step (the public code's way before
   caching; measured over --recompute-frames frames), NAR seconds per stage (7 stages over 750 frames).
B. The public VALL-E X inference code (`--public DIR`: a checkout of github.com/Plachtaa/VALL-E-X; it is not on
   PyPI) on the same weights, prompt audio and seed, in a fresh process. The end token's logit is made -1000 in
   the shared weights, so the length cap (16 frames per text id) ends both runs: the text is the first frames/16
   ids of the passage (no prompt text), which makes the same 10 s. Whether the tokens are equal is printed (on a
   CPU they are; GPU kernels round differently and a draw can differ), and both times with the audio made.

Run: .venv/bin/python benchmarks/clone.py [--device cpu|cuda] [--precision float32 int8] [--public DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
FRAMES = 750  # 10 s at 75 frames/s
TEXT = ("We hold these truths to be self-evident, that all men are created equal, that they are endowed by their "
        "Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness.")
CACHE = Path(os.environ.get("VOICE_STUDIO_BENCH_CACHE", Path.home() / ".cache" / "voice-studio-bench"))


def weights() -> Path:
    """Random weights of the release size in the release layout, made once (seed 0, N(0, 0.02))."""
    path = CACHE / "valle-random-seed0.pt"
    if path.exists():
        return path
    import torch

    from studio.models.valle import VallE

    CACHE.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in VallE().state_dict().items()}
    state = {k: torch.randn(s) * 0.02 for k, s in shapes.items()}
    for k in state:
        if k.endswith("alpha"):
            state[k] = torch.ones(1)
    for j in range(6):
        state[f"nar_predict_layers.{j}.weight"] = state[f"nar_audio_embeddings.{j + 2}.word_embeddings.weight"]
    tmp = path.with_suffix(".part")
    torch.save({"model": state}, tmp)
    os.replace(tmp, path)
    return path


def inputs(device: str) -> tuple:
    import numpy as np
    import torch

    from studio.models.valle import MODEL_LANGUAGE_IDS

    with np.load(DATA / "vallex-preset-librispeech_1.npz") as z:
        prompt = torch.from_numpy(z["audio_tokens"].astype(np.int64)).to(device)
        prompt_ids = z["text_tokens"][0].tolist()
    try:
        from studio.engine.clone.phonemes import text_to_ids

        target = list(text_to_ids(TEXT, "en").ids)
    except Exception:  # the GPU machine lacks the G2P packages (StudioError): the same ids, saved by a run here
        saved = json.loads((Path(__file__).parent / "clone_text_ids.json").read_text())
        assert saved["text"] == TEXT
        target = saved["ids"]
    ids = prompt_ids + target
    text = torch.tensor([ids], device=device)
    langs = torch.full((len(ids),), MODEL_LANGUAGE_IDS["en"], device=device)
    return text, langs, prompt, len(target)


def child(args: argparse.Namespace) -> None:
    """One fresh process: cold, then warm figures, printed as one JSON line."""
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    from studio.hub.valle_weights import load_valle
    from studio.models.encodec import Encodec
    from studio.models.valle import make_fast

    t_import = time.perf_counter() - t0
    model = load_valle(args.weights).to(args.device)
    if args.precision == "fast":
        model = make_fast(model, args.device)
    torch.manual_seed(1)
    codec = Encodec().eval()
    t_load = time.perf_counter() - t0 - t_import
    text, langs, prompt, n_ids = inputs(args.device)

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    def synth(frames: int) -> dict:
        out = {}
        t = time.perf_counter()
        first = model.generate_ar(text, langs, prompt[..., 0], force_frames=frames,
                                  generator=torch.Generator().manual_seed(1))
        sync()
        out["ar_s"] = time.perf_counter() - t
        stage_times: list[float] = []
        last = [time.perf_counter()]

        def on_stage(_: int) -> None:
            sync()
            now = time.perf_counter()
            stage_times.append(now - last[0])
            last[0] = now

        codes = model.generate_nar(text, langs, prompt, first, on_stage=on_stage)
        sync()
        out["nar_s"] = sum(stage_times)
        out["nar_stage_s"] = stage_times
        t = time.perf_counter()
        with torch.inference_mode():
            wav = codec.decode(codes[0].T[None].cpu())
        out["decode_s"] = time.perf_counter() - t
        out["audio_s"] = wav.shape[-1] / 24000
        out["total_s"] = out["ar_s"] + out["nar_s"] + out["decode_s"]
        return out

    cold = synth(args.frames)
    cold["process_s"] = time.perf_counter() - t0
    warm = synth(args.frames)
    result = {"precision": args.precision, "device": args.device, "import_s": t_import, "load_s": t_load,
              "text_ids": n_ids, "prompt_frames": prompt.shape[1], "cold": cold, "warm": warm}
    if args.recompute_frames:  # frames per second after the first (the prompt's prefix is read once either way)
        for cache in (True, False):
            stamps: list[float] = []

            def stamp(_n: int, stamps: list[float] = stamps) -> None:
                sync()
                stamps.append(time.perf_counter())

            model.generate_ar(text, langs, prompt[..., 0], force_frames=args.recompute_frames + 1,
                              generator=torch.Generator().manual_seed(1), use_cache=cache, on_step=stamp)
            result["ar_fps_cache" if cache else "ar_fps_recompute"] = args.recompute_frames / (stamps[-1] - stamps[0])
    if args.device == "cuda":
        result["gpu"] = torch.cuda.get_device_name(0)
        result["gpu_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
    print(json.dumps(result))


def public_child(args: argparse.Namespace) -> None:
    """The public inference code and ours on the same weights, input and seed: times and the frames made."""
    import types

    sys.path.insert(0, args.public)
    for name in ("matplotlib", "matplotlib.pyplot"):  # imported by its visualizer only
        sys.modules.setdefault(name, types.ModuleType(name))
    import torch

    torch.set_num_threads(args.threads)
    from models.vallex import VALLE  # type: ignore[import-not-found]

    from studio.hub.valle_weights import load_valle

    state = torch.load(args.weights, map_location="cpu", weights_only=True, mmap=True)["model"]
    pub = VALLE(1024, 16, 12, norm_first=True, add_prenet=False, prefix_mode=1, share_embedding=True,
                nar_scale_factor=1.0, prepend_bos=True, num_quantizers=8)
    pub.load_state_dict(state, strict=True)
    pub = pub.eval().to(args.device)
    ours = load_valle(args.weights).to(args.device)
    with torch.no_grad():  # the end token made unreachable in both (one state dict): both run to the length cap
        for m in (pub, ours):
            m.ar_decoder.norm.weight[0] = 0.0
            m.ar_decoder.norm.bias[0] = 10.0
            m.ar_predict_layer.weight[1024] = 0.0
            m.ar_predict_layer.weight[1024, 0] = -100.0
    text, langs, prompt, n_ids = inputs(args.device)
    # Random weights rarely say the end token, so the length cap (16 frames per text id) ends both runs: the
    # first `cap_ids` target ids, without the prompt's text, make it args.frames frames (10 s).
    cap_ids = max(1, args.frames // 16)
    text, langs = text[:, -n_ids:][:, :cap_ids], langs[:cap_ids]
    with torch.no_grad():
        torch.manual_seed(5)
        t = time.perf_counter()
        ref = pub.inference(text, torch.tensor([text.shape[1]], device=args.device), prompt.int(),
                            enroll_x_lens=0, top_k=-100, temperature=1.0, prompt_language="en",
                            text_language="en")
        public_s = time.perf_counter() - t
    t = time.perf_counter()
    first = ours.generate_ar(text, langs, prompt[..., 0], generator=torch.Generator().manual_seed(5))
    codes = ours.generate_nar(text, langs, prompt, first)
    ours_s = time.perf_counter() - t
    print(json.dumps({"frames_public": ref.shape[1], "frames_ours": codes.shape[1],
                      "tokens_equal": bool(torch.equal(ref.long().cpu(), codes.cpu())),
                      "public_s": public_s, "ours_s": ours_s, "audio_s": codes.shape[1] / 75}))


def run_child(extra: list[str], args: argparse.Namespace) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, __file__, "--weights", str(args.weights), "--device", args.device, "--threads",
           str(args.threads), "--frames", str(args.frames), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", nargs="+", default=["float32", "fast"])
    p.add_argument("--frames", type=int, default=FRAMES)
    p.add_argument("--recompute-frames", type=int, default=20)
    p.add_argument("--threads", type=int, default=min(16, os.cpu_count() or 2))
    p.add_argument("--public", default=None, help="a checkout of Plachtaa/VALL-E-X (for B)")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--child", choices=("ours", "public"), default=None)
    p.add_argument("--one-precision", default="float32")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child == "ours":
        args.precision = args.one_precision
        return child(args)
    if args.child == "public":
        return public_child(args)
    args.weights = args.weights or weights()
    print(f"VALL-E X release size, random weights; {describe()}; device {args.device}, {args.threads} threads; "
          f"{args.frames} AR frames forced ({args.frames / 75:.1f} s of speech)")
    for precision in args.precision:
        if precision == "fast" and args.device != "cpu":  # make_fast leaves a GPU model in float32
            continue
        r = run_child(["--child", "ours", "--one-precision", precision, "--recompute-frames",
                       str(args.recompute_frames)], args)
        c, w = r["cold"], r["warm"]
        print(f"\n[{precision}] text {r['text_ids']} ids after a {r['prompt_frames']}-frame prompt"
              + (f"; {r['gpu']}, peak {r['gpu_peak_gb']:.1f} GB" if "gpu" in r else ""))
        print(f"  cold: import {r['import_s']:.1f} s, load {r['load_s']:.1f} s, first synthesis "
              f"{c['total_s']:.1f} s (AR {c['ar_s']:.1f} + NAR {c['nar_s']:.1f} + decode {c['decode_s']:.1f}); "
              f"whole process to audio {c['process_s']:.1f} s")
        print(f"  warm: {w['total_s']:.1f} s for {w['audio_s']:.1f} s of audio = {w['audio_s'] / w['total_s']:.2f}x "
              f"real time (AR {w['ar_s']:.1f} s = {args.frames / w['ar_s']:.1f} frames/s, NAR {w['nar_s']:.1f} s = "
              f"{w['nar_s'] / 7:.2f} s/stage, decode {w['decode_s']:.2f} s)")
        if "ar_fps_recompute" in r:
            print(f"  AR over {args.recompute_frames} frames after the first: KV cache {r['ar_fps_cache']:.1f} "
                  f"frames/s, "
                  f"recompute {r['ar_fps_recompute']:.1f} frames/s ({r['ar_fps_cache'] / r['ar_fps_recompute']:.1f}x)")
    if args.public:
        r = run_child(["--child", "public", "--public", args.public], args)
        print(f"\n[public VALL-E X code vs ours, float32, same weights/input/seed 5] {r['frames_public']} frames "
              f"({r['audio_s']:.2f} s of audio), tokens equal: {r['tokens_equal']}")
        print(f"  public: {r['public_s']:.1f} s ({r['audio_s'] / r['public_s']:.2f}x real time); "
              f"ours: {r['ours_s']:.1f} s ({r['audio_s'] / r['ours_s']:.2f}x real time)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
