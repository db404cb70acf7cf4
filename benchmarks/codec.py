"""EnCodec speed on CPU: encode and decode 30 s of speech at 6 kbps, ours vs the `encodec` package, same weights
(random, shared state dict: the real ones need a download), 2 threads. Prints wall times and code identity.
Run: .venv/bin/python benchmarks/codec.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

THREADS = 2
torch.set_num_threads(THREADS)
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

from encodec import EncodecModel  # noqa: E402

from studio.audio.io import load_audio  # noqa: E402
from studio.hub.encodec_weights import build_model, config_from_state, from_original  # noqa: E402


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    torch.manual_seed(0)
    ref = EncodecModel.encodec_model_24khz(pretrained=False)
    state = ref.state_dict()
    for k in state:
        if k.endswith("_codebook.embed"):
            state[k].normal_(std=0.5)
    ref.load_state_dict(state)
    ref.set_target_bandwidth(6.0)
    ours_state = from_original(ref.state_dict())
    ours = build_model(config_from_state(ours_state), ours_state)
    speech = np.concatenate([load_audio(DATA / n, 24000) for n in ("jfk.flac", "encodec-test_24k.wav")])
    wav = torch.from_numpy(np.resize(speech, 30 * 24000))[None, None]
    print(f"30 s of speech at 24 kHz, 6 kbps (8 codebooks), {THREADS} threads, torch {torch.__version__}")
    print(f"{'':<18}{'encode s':>10}{'decode s':>10}")
    with torch.inference_mode():
        t_enc_ref, frames = timed(lambda: ref.encode(wav))
        t_dec_ref, _ = timed(lambda: ref.decode(frames))
        t_enc, (codes, scales) = timed(lambda: ours.encode(wav, 6.0))
        t_dec, _ = timed(lambda: ours.decode(codes, scales, wav.shape[-1]))
    print(f"{'encodec package':<18}{t_enc_ref:>10.2f}{t_dec_ref:>10.2f}")
    print(f"{'Voice Studio':<18}{t_enc:>10.2f}{t_dec:>10.2f}")
    print(f"{'speed-up':<18}{t_enc_ref / t_enc:>9.2f}x{t_dec_ref / t_dec:>9.2f}x")
    same = torch.equal(torch.cat([f[0] for f in frames], -1), codes)
    print(f"codes bit-identical: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
