"""EnCodec 24 kHz on CPU at 6 kbps (8 codebooks): Voice Studio vs the `encodec` package, 2 threads, on 30 s of
speech that never repeats (the first 30 s of benchmarks/corpus.py's file, written at 24 kHz).

Weights: one random state dict shared by both (the real weights need a download): the package's 24 kHz model, seed
0, its codebooks drawn from the encoder's own residual latents on tests/data/encodec-test_24k.wav (not in the
corpus), so that codes vary with the audio; saved once as a release-layout .th file.
A. In-process: each side in its own fresh process: import, load, read the file, first encode and first decode
   (cold), then the median of several encodes and decodes of the same input (warm).
B. Whole process: `studio codec encode/decode --model X.th` against a script doing what the package's own
   `encodec` command does (compress / decompress, use_lm off); both read and write audio with soundfile
   (the package's command reads with torchaudio.load, which needs torchcodec, not installed). Fresh process per
   run, from exec to exit; min and median. Then the package doing both in one process (one import, one load): the
   speed goal compares our two commands with that.
C. Code identity, printed as the share of equal codes (per codebook and overall), not asserted:
   ours vs the package on the shared weights (30 s), and our Hugging Face layout loader (transformers'
   save_pretrained folder -> studio load_encodec) vs transformers' EncodecModel (codebooks fitted the same way) on
   the 20 s tests/data/encodec-test_24k.wav and on the 30 s of speech. With codebooks drawn N(0, 0.5) (as the tests
   do) every frame gets the same code, so that figure is printed too but says little.

Run: .venv/bin/python benchmarks/codec.py [--runs N] [--cli-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
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
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
BANDWIDTH = 6.0

PACKAGE_SCRIPT = """
import sys, torch, numpy as np, soundfile as sf
from encodec import EncodecModel
from encodec.compress import MODELS, compress, decompress
from encodec.utils import convert_audio
torch.set_num_threads(THREADS)
op, th, src, dst = sys.argv[1:5]  # op: encode, decode, or both (encode to dst, then decode it to argv[5])
model = EncodecModel.encodec_model_24khz(pretrained=False)
model.load_state_dict(torch.load(th, weights_only=True))
model.name = "encodec_24khz"
model.set_target_bandwidth(BANDWIDTH)
model.eval()
MODELS["encodec_24khz"] = lambda: model  # decompress() looks the model up by name
if op in ("encode", "both"):
    x, sr = sf.read(src, dtype="float32", always_2d=True)
    wav = convert_audio(torch.from_numpy(x.T.copy()), sr, model.sample_rate, model.channels)
    open(dst, "wb").write(compress(model, wav, use_lm=False))
if op in ("decode", "both"):
    wav, sr = decompress(open(src if op == "decode" else dst, "rb").read())
    sf.write(dst if op == "decode" else sys.argv[5], wav.numpy().T, sr, subtype="PCM_16")
""".replace("THREADS", str(THREADS)).replace("BANDWIDTH", str(BANDWIDTH))


FIT_SOURCE = DATA / "encodec-test_24k.wav"  # not part of the speech corpus


def fit_codebooks(state: dict, encoder, key: str, n_q: int = 32) -> dict:
    """Codebooks drawn from the encoder's own residual latents on FIT_SOURCE (EnCodec's initialisation: random
    latents of the data), each stage from what the previous stages left, with a little jitter so that no two codes
    tie: codes then vary with the audio, as a trained model's do. (Codebooks drawn N(0, 0.5) instead, as in
    tests/test_codec.py's random pair, quantise every frame of speech to one and the same code.)"""
    import torch

    from studio.audio.io import load_audio

    wav = torch.from_numpy(load_audio(FIT_SOURCE, 24000))[None, None]
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        r = encoder(wav)[0].T.clone()  # (frames, dim)
        for i in range(n_q):
            pick = r[torch.randperm(len(r), generator=g)[:1024]]  # 1500 frames: no latent picked twice
            embed = pick + 0.05 * r.std() * torch.randn(pick.shape, generator=g)
            state[key.format(i)] = embed.clone()
            d = (r * r).sum(1, keepdim=True) - 2 * r @ embed.T + (embed * embed).sum(1)
            r = r - embed[d.argmin(1)]
    return state


def shared_state(folder: Path, fitted: bool = True) -> Path:
    """The package's 24 kHz model with random weights (seed 0) as a release .th file; codebooks fitted (above) or
    drawn N(0, 0.5)."""
    th = folder / f"encodec_24khz-random-seed0-{'fitted' if fitted else 'normal'}.th"
    if not th.exists():
        import torch
        from encodec import EncodecModel

        torch.manual_seed(0)
        ref = EncodecModel.encodec_model_24khz(pretrained=False).eval()
        state = ref.state_dict()
        for k in state:
            if k.endswith("_codebook.embed"):
                state[k].normal_(std=0.5)
        if fitted:
            state = fit_codebooks(state, ref.encoder, "quantizer.vq.layers.{}._codebook.embed")
        torch.save(state, th)
    return th


# ---- the child: one side in a fresh process -----------------------------------------------------------------

def child(spec: dict) -> None:
    side, th, path, runs = spec["side"], spec["th"], spec["file"], spec["runs"]
    t0 = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(THREADS)
    if side == "ours":
        from studio.audio.io import load_audio
        from studio.hub.encodec_weights import load_encodec

        t1 = time.perf_counter()
        model = load_encodec(th)
        t2 = time.perf_counter()
        wav = torch.from_numpy(load_audio(path, 24000))[None, None]

        def encode() -> object:
            return model.encode(wav, BANDWIDTH)

        def decode(out: object) -> object:
            return model.decode(out[0], out[1], wav.shape[-1])  # type: ignore[index]

        def codes(out: object) -> np.ndarray:
            return out[0][0].numpy()  # type: ignore[index]
    else:
        import soundfile as sf
        from encodec import EncodecModel
        from encodec.utils import convert_audio

        t1 = time.perf_counter()
        model = EncodecModel.encodec_model_24khz(pretrained=False)
        model.load_state_dict(torch.load(th, weights_only=True))
        model.set_target_bandwidth(BANDWIDTH)
        model.eval()
        t2 = time.perf_counter()
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        wav = convert_audio(torch.from_numpy(x.T.copy()), sr, model.sample_rate, model.channels)[None]

        def encode() -> object:
            return model.encode(wav)

        def decode(out: object) -> object:
            return model.decode(out)

        def codes(out: object) -> np.ndarray:
            return torch.cat([f[0] for f in out], -1)[0].numpy()  # type: ignore[union-attr]
    t3 = time.perf_counter()
    with torch.inference_mode():
        t = time.perf_counter()
        out = encode()
        cold_enc = time.perf_counter() - t
        t = time.perf_counter()
        decode(out)
        cold_dec = time.perf_counter() - t
        enc, dec = [], []
        for _ in range(runs):
            t = time.perf_counter()
            out = encode()
            enc.append(time.perf_counter() - t)
            t = time.perf_counter()
            decode(out)
            dec.append(time.perf_counter() - t)
    np.save(spec["codes"], codes(out))
    print(json.dumps({"import": t1 - t0, "load": t2 - t1, "read": t3 - t2, "cold_encode": cold_enc,
                      "cold_decode": cold_dec, "encode": enc, "decode": dec}))


# ---- the parent ---------------------------------------------------------------------------------------------

def run_child(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                         env=ENV, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{spec['side']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(a, b) -> tuple[list[float], float, list[int]]:
    """(% equal per codebook, % equal overall, distinct codes per codebook in `a`)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    per = [100.0 * float((a[k] == b[k]).mean()) for k in range(a.shape[0])]
    return per, 100.0 * float((a == b).mean()), [len(np.unique(a[k])) for k in range(a.shape[0])]


def print_agreement(title: str, a, b) -> None:
    per, overall, used = agreement(a, b)
    print(f"{title}: {overall:.2f} % of {a.size} codes equal ({a.shape[0]} codebooks x {a.shape[1]} frames)")
    print("  codebook      " + "".join(f"{k + 1:>8}" for k in range(len(per))))
    print("  equal %       " + "".join(f"{p:>8.2f}" for p in per))
    print("  codes used    " + "".join(f"{u:>8}" for u in used))


def hf_comparison(files: list[Path], fitted: bool = True) -> None:
    """transformers' EncodecModel (random, seed 0; codebooks fitted as above, or N(0, 0.5)) saved with
    save_pretrained and loaded by our Hugging Face layout loader; codes of each file from both."""
    try:
        import transformers
    except ImportError:
        print("C2. transformers not installed: skipped")
        return
    import numpy as np
    import torch

    from studio.audio.io import load_audio
    from studio.hub.encodec_weights import load_encodec

    torch.manual_seed(0)
    hf = transformers.EncodecModel(transformers.EncodecConfig()).eval()
    state = hf.state_dict()
    for k in state:
        if k.endswith("codebook.embed"):
            state[k].normal_(std=0.5)
    if fitted:
        state = fit_codebooks(state, hf.encoder, "quantizer.layers.{}.codebook.embed")
    hf.load_state_dict(state)
    with tempfile.TemporaryDirectory() as tmp:
        transformers.logging.disable_progress_bar()
        hf.save_pretrained(tmp)
        ours = load_encodec(tmp)
    for f in files:
        wav = torch.from_numpy(load_audio(f, 24000))[None, None]
        with torch.inference_mode():
            theirs = torch.cat(list(hf.encode(wav, bandwidth=BANDWIDTH).audio_codes), dim=-1)[0].numpy()
            mine = ours.encode(wav, BANDWIDTH)[0][0].numpy()
        title = (f"Hugging Face layout (our loader) vs transformers {transformers.__version__} EncodecModel, "
                 f"{f.name} ({wav.shape[-1] / 24000:.1f} s)")
        if fitted:
            print_agreement(f"C2. {title}", np.asarray(mine), theirs)
        else:
            _, overall, used = agreement(mine, theirs)
            print(f"    codebooks N(0, 0.5) instead: {title}: {overall:.2f} % equal, distinct codes per codebook "
                  f"{used} (degenerate)")


def _package_and_clip(th: Path, clip: Path) -> tuple:
    """The encodec package's 24 kHz model holding the weights in `th`, and the clip as a (1, 1, T) tensor."""
    import soundfile as sf
    import torch
    from encodec import EncodecModel

    ref = EncodecModel.encodec_model_24khz(pretrained=False)
    ref.load_state_dict(torch.load(th, weights_only=True))
    ref.set_target_bandwidth(BANDWIDTH)
    ref.eval()
    x, _ = sf.read(clip, dtype="float32")
    return ref, torch.from_numpy(x)[None, None]


def why_codes_differ(th: Path, clip: Path) -> None:
    """How far apart the two encoders' latents are, and how many frames got another code."""
    import torch

    from studio.hub.encodec_weights import load_encodec

    ref, wav = _package_and_clip(th, clip)
    ours = load_encodec(th)
    with torch.inference_mode():
        za, zb = ref.encoder(wav), ours.encoder(wav)
        theirs = torch.cat([f[0] for f in ref.encode(wav)], -1)[0]
        mine = ours.encode(wav, BANDWIDTH)[0][0]
    frames = int((theirs != mine).any(0).sum())
    print(f"    encoder latents: largest |ours - package| {float((za - zb).abs().max()):.1e} (largest latent "
          f"{float(za.abs().max()):.2f}); frames with any code different: {frames} of {theirs.shape[1]}")


def degenerate_c1(th: Path, clip: Path) -> None:
    """C1 with the codebooks drawn N(0, 0.5): how the figure looked before, and why it meant little."""
    import torch

    from studio.hub.encodec_weights import load_encodec

    ref, wav = _package_and_clip(th, clip)
    with torch.inference_mode():
        theirs = torch.cat([f[0] for f in ref.encode(wav)], -1)[0].numpy()
        mine = load_encodec(th).encode(wav, BANDWIDTH)[0][0].numpy()
    _, overall, used = agreement(mine, theirs)
    print(f"    codebooks N(0, 0.5) instead (tests/test_codec.py's random pair): {overall:.2f} % equal, distinct codes "
          f"per codebook {used} (degenerate)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--runs", type=int, default=3, help="warm encodes and decodes per side (in-process)")
    ap.add_argument("--cli-runs", type=int, default=3, help="whole-process runs per command")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    import importlib.metadata as md

    import numpy as np
    from corpus import CACHE, corpus, cut

    from studio.engine.codec.files import read_ecdc

    src = corpus(90, 24000)
    clip = cut(src, args.seconds)
    CACHE.mkdir(parents=True, exist_ok=True)
    th = shared_state(CACHE)
    tmp = Path(tempfile.mkdtemp(prefix="codec-bench-"))
    print(f"EnCodec benchmark, {time.strftime('%Y-%m-%d %H:%M')}; {describe()}; {THREADS} threads; "
          f"torch {md.version('torch')}, encodec {md.version('encodec')}; load average {os.getloadavg()[0]:.1f} at the "
          "start")
    print(f"Input: {clip.name}, the first {args.seconds:g} s of {src.describe()} (24 kHz, 16-bit)")
    print(f"Model: EnCodec 24 kHz at {BANDWIDTH:g} kbps (8 codebooks), random weights shared by both, codebooks "
          f"drawn from its latents of {FIT_SOURCE.name} ({th.name})")

    print(f"\nA. In-process, each side in a fresh process: import, load, read, first encode and decode (cold); then "
          f"the median of {args.runs} encodes and decodes of the same input (warm). Model calls only, same tensor.")
    print(f"{'':<18}{'import s':>9}{'load s':>8}{'read s':>8}{'cold enc':>9}{'cold dec':>9}{'warm enc':>9}"
          f"{'warm dec':>9}{'load':>6}")
    results, codes = {}, {}
    for side, label in (("package", "encodec package"), ("ours", "Voice Studio")):
        r = results[side] = run_child({"side": side, "th": str(th), "file": str(clip), "runs": args.runs,
                                       "codes": str(tmp / f"{side}.npy")})
        codes[side] = np.load(tmp / f"{side}.npy")
        print(f"{label:<18}{r['import']:>9.2f}{r['load']:>8.2f}{r['read']:>8.2f}{r['cold_encode']:>9.2f}"
              f"{r['cold_decode']:>9.2f}{statistics.median(r['encode']):>9.2f}{statistics.median(r['decode']):>9.2f}"
              f"{os.getloadavg()[0]:>6.1f}")
    p, o = results["package"], results["ours"]
    print(f"{'package / ours':<18}{'':>25}{p['cold_encode'] / o['cold_encode']:>8.2f}x"
          f"{p['cold_decode'] / o['cold_decode']:>8.2f}x"
          f"{statistics.median(p['encode']) / statistics.median(o['encode']):>8.2f}x"
          f"{statistics.median(p['decode']) / statistics.median(o['decode']):>8.2f}x")

    print(f"\nB. Whole process (fresh process per run, exec to exit; one uncounted run first, then {args.cli_runs}, "
          "taking turns):")
    cmds = {
        ("ours", "encode"): [str(BIN / "studio"), "codec", "encode", str(clip), str(tmp / "ours.ecdc"), "--bandwidth",
                             f"{BANDWIDTH:g}", "--model", str(th)],
        ("package", "encode"): [sys.executable, "-c", PACKAGE_SCRIPT, "encode", str(th), str(clip),
                                str(tmp / "package.ecdc")],
        ("ours", "decode"): [str(BIN / "studio"), "codec", "decode", str(tmp / "ours.ecdc"), str(tmp / "ours.wav"),
                             "--model", str(th)],
        ("package", "decode"): [sys.executable, "-c", PACKAGE_SCRIPT, "decode", str(th), str(tmp / "package.ecdc"),
                                str(tmp / "package.wav")],
    }
    print("  studio codec encode CLIP out.ecdc --bandwidth 6 --model X.th  |  studio codec decode out.ecdc out.wav "
          "--model X.th")
    print("  python -c '<encodec: compress(model, wav, use_lm=False) -> .ecdc>'  |  "
          "python -c '<encodec: decompress(.ecdc) -> .wav>'")
    print("  python -c '<encodec: compress -> .ecdc, then decompress -> .wav, in one process>'  (the goal's peer)")
    print(f"{'command':<28}{'min s':>8}{'median s':>10}{'package/ours':>14}{'peak MB':>9}{'load':>6}")
    medians: dict[tuple[str, str], float] = {}
    for op in ("encode", "decode"):
        times: dict[str, list[float]] = {"ours": [], "package": []}
        rss: dict[str, float] = {}
        for i in range(args.cli_runs + 1):
            for side in ("package", "ours"):
                wall, mb = whole_process(cmds[(side, op)], ENV, ROOT)
                if i:
                    times[side].append(wall)
                    rss[side] = max(rss.get(side, 0.0), mb)
        ratio = statistics.median(times["package"]) / statistics.median(times["ours"])
        for side, label in (("package", "encodec package"), ("ours", "Voice Studio")):
            medians[(side, op)] = statistics.median(times[side])
            print(f"{label + ' ' + op:<28}{min(times[side]):>8.2f}{statistics.median(times[side]):>10.2f}"
                  f"{(f'{ratio:.2f}x' if side == 'ours' else ''):>14}{rss[side]:>9.0f}{os.getloadavg()[0]:>6.1f}")
    both = [sys.executable, "-c", PACKAGE_SCRIPT, "both", str(th), str(clip), str(tmp / "package-both.ecdc"),
            str(tmp / "package-both.wav")]
    walls, mb = [], 0.0
    for i in range(args.cli_runs + 1):
        wall, peak = whole_process(both, ENV, ROOT)
        if i:
            walls.append(wall)
            mb = max(mb, peak)
    print(f"{'encodec package both, 1 proc':<28}{min(walls):>8.2f}{statistics.median(walls):>10.2f}{'':>14}{mb:>9.0f}"
          f"{os.getloadavg()[0]:>6.1f}")
    ours_two = medians[("ours", "encode")] + medians[("ours", "decode")]
    print(f"  encode + decode: Voice Studio's two processes {ours_two:.2f} s (medians added), the package's two "
          f"{medians[('package', 'encode')] + medians[('package', 'decode')]:.2f} s, the package in one process "
          f"{statistics.median(walls):.2f} s; ours / package in one process = {ours_two / statistics.median(walls):.2f}"
          " (goal: at most 0.67)")

    print()
    print_agreement(f"C1. Voice Studio vs the encodec package, shared weights, in-process, {clip.name}",
                    codes["ours"], codes["package"])
    a, b = read_ecdc(tmp / "ours.ecdc"), read_ecdc(tmp / "package.ecdc")
    same_bytes = (tmp / "ours.ecdc").read_bytes() == (tmp / "package.ecdc").read_bytes()
    per, overall, _ = agreement(a.codes, b.codes)
    print(f"    the two commands' .ecdc files: {overall:.2f} % of codes equal; bytes identical: "
          f"{'yes' if same_bytes else 'no'}")
    why_codes_differ(th, clip)
    degenerate_c1(shared_state(CACHE, fitted=False), clip)
    print()
    hf_comparison([DATA / "encodec-test_24k.wav", clip])
    hf_comparison([DATA / "encodec-test_24k.wav", clip], fitted=False)


if __name__ == "__main__":
    main()
