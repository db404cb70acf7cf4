"""Captioning on a CUDA GPU: BLIP at base size (benchmarks/caption.py's random, image-dependent weights, made on
the machine) on a 512x512 synthetic picture, ours vs transformers' generate() on the same GPU, greedy and 3 beams,
20 new tokens forced. Prints whether the tokens equal transformers' and ours on the CPU, the attention's drift
between the devices, the first caption in the process (cold kernels) and the median of 5 warm captions, with and
without the cross-attention kept; then that *fast* changes nothing on a GPU. One process, one picture: it times
the model, not the start-up (the CPU benchmark has the cold-process figures).

Run on a machine with a GPU: python benchmarks/caption_gpu.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VOICE_STUDIO_BENCH_CACHE", "/tmp/voice-studio-bench")

from benchmarks.caption import weights  # noqa: E402
from studio.engine.caption.caption import Captioner  # noqa: E402
from studio.engine.caption.decoding import DecodeOptions  # noqa: E402
from studio.hub.blip_weights import load_blip  # noqa: E402

NEW_TOKENS = 20


def _timed(fn: Callable[[], object], runs: int = 5) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from transformers import BlipForConditionalGeneration, BlipImageProcessor

    t0 = time.perf_counter()
    folder = weights()
    print(f"{torch.cuda.get_device_name(0)}; BLIP base size, random weights; {NEW_TOKENS} new tokens forced")
    y, x = np.mgrid[0:512, 0:512]
    image = Image.fromarray(np.stack([(x // 2) % 256, (y // 3) % 256, ((x + y) // 5) % 256], -1).astype(np.uint8))
    hf = BlipForConditionalGeneration.from_pretrained(folder).eval().to("cuda")
    processor = BlipImageProcessor.from_pretrained(folder)
    gpu = Captioner(load_blip(folder)[0], folder, "cuda")
    cpu = Captioner(load_blip(folder)[0], folder, "cpu")
    for beams in (1, 3):
        opts = DecodeOptions(beam_size=beams, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
        t = time.perf_counter()
        ours = gpu.caption(image, "", opts, capture=True)
        torch.cuda.synchronize()
        first = time.perf_counter() - t
        on_cpu = cpu.caption(image, "", opts, capture=True)

        def theirs(beams: int = beams) -> list[int]:
            with torch.inference_mode():
                px = processor(images=image, return_tensors="pt")["pixel_values"].to("cuda")
                out = hf.generate(pixel_values=px, num_beams=beams, max_new_tokens=NEW_TOKENS,
                                  min_new_tokens=NEW_TOKENS)
            return out[0, 1:].tolist()

        drift = (float(np.abs(ours.cross_attention - on_cpu.cross_attention).max())
                 if ours.tokens == on_cpu.tokens else float("nan"))
        print(f"[{'greedy' if beams == 1 else f'beam {beams}'}] tokens equal transformers (GPU): "
              f"{ours.tokens == theirs()}; equal ours on the CPU: {ours.tokens == on_cpu.tokens}; attention "
              f"{ours.cross_attention.shape}, max |GPU - CPU| {drift:.1e}; first caption {first:.2f} s")
        plain = _timed(lambda opts=opts: gpu.caption(image, "", opts, capture=False))
        kept = _timed(lambda opts=opts: gpu.caption(image, "", opts, capture=True))
        ref = _timed(theirs)
        print(f"  warm, median of 5: ours {plain * 1e3:.0f} ms, ours with attention kept {kept * 1e3:.0f} ms, "
              f"transformers {ref * 1e3:.0f} ms: transformers / ours {ref / plain:.2f}x")
    fast = Captioner(load_blip(folder)[0], folder, "cuda", "fast")
    same = fast.caption(image, "", DecodeOptions()).tokens == gpu.caption(image, "", DecodeOptions()).tokens
    print(f"fast on the GPU: weights {fast.model.vision_model.embeddings.patch_embedding.weight.dtype}, tokens "
          f"equal float32: {same}; peak GPU memory {torch.cuda.max_memory_allocated() / 1e9:.2f} GB; "
          f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
