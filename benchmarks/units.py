"""Speech-unit speed on CPU, 2 threads: HuBERT base features for 60 s of speech, Voice Studio against transformers
with the same weights, and k-means on ten minutes of features, ours against scikit-learn.

Speech: the first 60 s of benchmarks/corpus.py's speech (real clips, then espeak-ng passages: nothing repeats),
16 kHz. Weights: HuBERT base at its real size (transformers' HubertConfig() = facebook/hubert-base-ls960, 94 M
parameters), random (the real weights need a download), saved once with save_pretrained in
~/.cache/voice-studio-bench; both sides load that folder.

Per side, one fresh process:
  cold = import + load the folder + the first features of the 60 s file;
  warm = the median of --runs further calls in that process.
Rows: ours, layer 6 (`studio units`' default: the transformer stops after layer 6) and layer 12; transformers'
HubertModel with output_hidden_states=True (every layer runs, as its usual use), and with its encoder cut to 6
layers (the cheapest way to get layer 6 there). The largest difference between the sides' layer-6 features is
printed. Goal (issue 14): ours at least as fast as transformers, 60 s of audio in under 3 s.

k-means: layer-6 features of ten minutes of the same corpus (ours, computed once and cached), k = 100, seed 0:
studio.engine.units.kmeans.fit_kmeans against scikit-learn's MiniBatchKMeans (batch 10,240, three seedings, as
ours), each in a fresh process; the time of the fit and the inertia it reaches are printed.

Run: .venv/bin/python benchmarks/units.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe

THREADS = 2
ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("VOICE_STUDIO_BENCH_CACHE", Path.home() / ".cache" / "voice-studio-bench"))
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}


def weights() -> Path:
    folder = CACHE / "hubert-base-random-seed0"
    if (folder / "preprocessor_config.json").exists():
        return folder
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    HubertModel(HubertConfig()).eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(folder)  # as hubert-base-ls960's
    return folder


# Each side runs in a child process so that the cold figure includes the imports. The child prints one JSON line.
CHILD_OURS = """
import sys, time, json
t0 = time.perf_counter()
import torch
torch.set_num_threads({threads})
from studio.audio.io import load_audio
from studio.engine.units.features import extract_features
from studio.hub.hubert_weights import load_encoder
wave = load_audio({wav!r}, 16000)
loaded = load_encoder({folder!r})
feats = extract_features(wave, loaded, {layer})
cold = time.perf_counter() - t0
warm = []
for _ in range({runs}):
    t = time.perf_counter(); extract_features(wave, loaded, {layer}); warm.append(time.perf_counter() - t)
import numpy as np
np.save({out!r}, feats)
print(json.dumps({{"cold": cold, "warm": warm}}))
"""

CHILD_HF = """
import sys, time, json
t0 = time.perf_counter()
import torch
torch.set_num_threads({threads})
import numpy as np
from studio.audio.io import load_audio
from transformers import HubertModel, Wav2Vec2FeatureExtractor
wave = load_audio({wav!r}, 16000)
fe = Wav2Vec2FeatureExtractor.from_pretrained({folder!r})
model = HubertModel.from_pretrained({folder!r}).eval()
if {cut}:
    model.encoder.layers = model.encoder.layers[:6]
def run():
    x = fe(wave, sampling_rate=16000, return_tensors="pt").input_values
    with torch.inference_mode():
        return model(x, output_hidden_states=True).hidden_states[6][0].numpy()
feats = run()
cold = time.perf_counter() - t0
warm = []
for _ in range({runs}):
    t = time.perf_counter(); run(); warm.append(time.perf_counter() - t)
np.save({out!r}, feats)
print(json.dumps({{"cold": cold, "warm": warm}}))
"""

CHILD_KMEANS = """
import time, json
import numpy as np
import torch
torch.set_num_threads({threads})
x = np.load({feats!r})
t = time.perf_counter()
if {ours}:
    from studio.engine.units.kmeans import fit_kmeans
    centers = fit_kmeans(torch.from_numpy(x), 100, seed=0).numpy()
else:
    from threadpoolctl import threadpool_limits
    from sklearn.cluster import MiniBatchKMeans
    with threadpool_limits({threads}):
        centers = MiniBatchKMeans(100, batch_size=10240, n_init=3, random_state=0).fit(x).cluster_centers_
fit = time.perf_counter() - t
from studio.engine.units.kmeans import nearest
inertia = float(nearest(torch.from_numpy(x), torch.from_numpy(np.asarray(centers, np.float32)))[1].sum())
print(json.dumps({{"fit": fit, "inertia": inertia}}))
"""


def child(code: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def ten_minutes_of_features(folder: Path) -> Path:
    out = CACHE / "units-bench-features-600s-layer6.npy"
    if out.exists():
        return out
    from corpus import corpus

    wav = corpus(600).path
    code = (f"import numpy as np, torch\ntorch.set_num_threads({THREADS})\n"
            "from studio.audio.io import load_audio\nfrom studio.engine.units.features import extract_features\n"
            "from studio.hub.hubert_weights import load_encoder\n"
            f"wave = load_audio({str(wav)!r}, 16000)\n"
            f"np.save({str(out)!r}, extract_features(wave, load_encoder({str(folder)!r}), 6))\n"
            "print('{}')")
    child(code)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from corpus import corpus, cut

    print(f"Speech units on {describe()}, {THREADS} threads, load {os.getloadavg()[0]:.2f}")
    folder = weights()
    wav = cut(corpus(90), 60)
    print(f"HuBERT base (random weights, real size) on 60 s of non-repeating speech ({wav.name}); "
          f"cold = fresh process incl. imports and load; warm = median of {args.runs}")
    print(f"{'side':<44} {'cold s':>7} {'warm s':>7} {'x realtime':>10}")
    outs = {}
    rows = [("ours, layer 6", CHILD_OURS, {"layer": 6}), ("ours, layer 12", CHILD_OURS, {"layer": 12}),
            ("transformers, all 12 layers, hidden_states[6]", CHILD_HF, {"cut": False}),
            ("transformers, encoder cut to 6 layers", CHILD_HF, {"cut": True})]
    warm_of = {}
    for name, code, extra in rows:
        out = CACHE / f"units-bench-{len(outs)}.npy"
        r = child(code.format(threads=THREADS, wav=str(wav), folder=str(folder), runs=args.runs, out=str(out),
                              **extra))
        outs[name] = out
        warm = statistics.median(r["warm"])
        warm_of[name] = warm
        print(f"{name:<44} {r['cold']:>7.2f} {warm:>7.2f} {60 / warm:>9.1f}x", flush=True)
    import numpy as np

    ours6 = np.load(outs["ours, layer 6"])
    hf6 = np.load(outs["transformers, all 12 layers, hidden_states[6]"])
    print(f"layer-6 features, ours vs transformers: shape {ours6.shape}, largest difference "
          f"{float(np.abs(ours6 - hf6).max()):.2e}")
    best_hf = min(warm_of["transformers, all 12 layers, hidden_states[6]"],
                  warm_of["transformers, encoder cut to 6 layers"])
    print(f"goal: ours (layer 6, warm) {warm_of['ours, layer 6']:.2f} s vs transformers' best {best_hf:.2f} s "
          f"({best_hf / warm_of['ours, layer 6']:.2f}x); under 3 s: "
          f"{'met' if warm_of['ours, layer 6'] < 3 else 'not met'}")

    t = time.perf_counter()
    feats = ten_minutes_of_features(folder)
    made = time.perf_counter() - t
    n = np.load(feats, mmap_mode="r").shape
    print(f"\nk-means, k = 100, seed 0, on layer-6 features of 10 minutes ({n[0]} frames x {n[1]}"
          + (f"; features made in {made:.1f} s" if made > 1 else "; features cached") + ")")
    print(f"{'side':<44} {'fit s':>7} {'inertia':>14}")
    for name, ours in (("ours (torch, greedy k-means++, mini-batch)", True), ("scikit-learn MiniBatchKMeans", False)):
        r = child(CHILD_KMEANS.format(threads=THREADS, feats=str(feats), ours=ours))
        print(f"{name:<44} {r['fit']:>7.2f} {r['inertia']:>14.4g}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
