"""Image captioning speed on CPU, 2 threads: Voice Studio (studio.engine.caption.Captioner) vs transformers'
BlipForConditionalGeneration + BlipImageProcessor, on one image: skimage.data.astronaut() (a 512x512 photo), given
to each side as a PIL image and resized to 384x384 by that side's own preprocessing.

Weights: BLIP at the real base size (transformers' BlipConfig() defaults = blip-image-captioning-base, 224 M
parameters), random (the real weights need a download), drawn as tests/test_caption_decoding.py's fixture does
so the caption depends on the image (vision weights re-drawn, text weights scaled); saved once with
save_pretrained + BlipImageProcessor + a 30524-id WordPiece tokenizer.json in ~/.cache/voice-studio-bench.
Both sides load that one folder. Every caption is exactly 20 new tokens (min_new_tokens = max_new_tokens = 20).

Per side and per decoding (greedy; beam search with 3 beams), one fresh process:
  cold = import + load the folder + the first caption (PIL image -> preprocessing -> 20 tokens -> text);
  warm = the median of --runs further captions of the same image in that process.
Ours runs with capture=False (no attention kept, as transformers); the warm figure with capture=True (every
token's cross-attention kept, as the app's attention view) is printed too. Whether both sides give the same
tokens is printed, not asserted. The load average is printed with the figures: the CPU may be shared.

A third process runs ours at --precision fast (bfloat16 vision tower, int8 decoder: studio.models.blip.make_fast):
its warm figure and whether its tokens equal float32's are printed. These random weights are chaotic (scaled so
captions depend on the image): a tiny change flips tokens, so token agreement here says little about a trained
model; tests/test_caption_fast.py bounds the drift on a well-conditioned model.

Run: .venv/bin/python benchmarks/caption.py [--runs N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe

THREADS = 2
NEW_TOKENS = 20
ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("VOICE_STUDIO_BENCH_CACHE", Path.home() / ".cache" / "voice-studio-bench"))
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}


def _tokenizer_json(folder: Path, vocab_size: int) -> None:
    """A BERT WordPiece tokenizer with bert-base-uncased's special ids and BLIP's [DEC] begin token; the other
    ids are placeholder words (the weights are random, so real words would say nothing more)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    specials = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, "[DEC]": 30522, "[ENC]": 30523}
    vocab = dict(specials)
    for i in range(vocab_size):
        if i not in specials.values():
            vocab[f"w{i}"] = i
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 101), ("[SEP]", 102)])
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(list(specials))
    tok.save(str(folder / "tokenizer.json"))


def weights() -> Path:
    """The random base-size BLIP folder, made once (seed 0)."""
    folder = CACHE / "blip-base-random-seed0"
    if (folder / "tokenizer.json").exists():
        return folder
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig()).eval()
    with torch.no_grad():  # transformers' init makes every image caption alike: re-draw as the tests do
        for name, v in model.state_dict().items():
            if name.startswith("vision_model"):
                if "norm" in name:
                    v.fill_(1.0 if name.endswith("weight") else 0.0)
                else:
                    v.copy_(torch.randn_like(v) * (0.1 if v.dim() > 1 else 0.02))
            elif name.startswith("text_decoder") and name.endswith("weight") and v.dim() == 2:
                v.mul_(9.0 if "crossattention" in name else 3.0)
    part = folder.with_name(folder.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    model.save_pretrained(part)
    BlipImageProcessor(size={"height": 384, "width": 384}).save_pretrained(part)
    _tokenizer_json(part, model.config.text_config.vocab_size)
    os.replace(part, folder)
    return folder


def _image() -> object:
    from PIL import Image
    from skimage import data

    return Image.fromarray(data.astronaut())


def child(args: argparse.Namespace) -> None:
    """One fresh process, one side, one decoding: cold, then warm figures, printed as one JSON line."""
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(THREADS)
    beams = args.beams
    if args.child in ("ours", "ours-fast"):
        from studio.engine.caption.caption import Captioner
        from studio.engine.caption.decoding import DecodeOptions
        from studio.hub.blip_weights import load_blip

        t_import = time.perf_counter() - t0
        model, folder = load_blip(args.folder)
        captioner = Captioner(model, folder, "cpu", "fast" if args.child == "ours-fast" else "float32")
        opts = DecodeOptions(beam_size=beams, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)

        def caption(image: object, capture: bool = False) -> tuple[list[int], str]:
            r = captioner.caption(image, "", opts, capture=capture)
            return r.tokens, r.text
    else:
        from tokenizers import Tokenizer
        from transformers import BlipForConditionalGeneration, BlipImageProcessor

        t_import = time.perf_counter() - t0
        model = BlipForConditionalGeneration.from_pretrained(args.folder).eval()
        processor = BlipImageProcessor.from_pretrained(args.folder)
        tok = Tokenizer.from_file(str(Path(args.folder) / "tokenizer.json"))

        def caption(image: object, capture: bool = False) -> tuple[list[int], str]:
            with torch.inference_mode():
                pixels = processor(images=image, return_tensors="pt")["pixel_values"]
                out = model.generate(pixel_values=pixels, num_beams=beams, max_new_tokens=NEW_TOKENS,
                                     min_new_tokens=NEW_TOKENS)
            ids = out[0, 1:].tolist()  # after the begin token
            return ids, tok.decode(ids, skip_special_tokens=True)

    t_load = time.perf_counter() - t0 - t_import
    image = _image()
    t = time.perf_counter()
    tokens, text = caption(image)
    first = time.perf_counter() - t
    cold = time.perf_counter() - t0

    def median(capture: bool) -> float:
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            caption(image, capture)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    result = {"import_s": t_import, "load_s": t_load, "first_s": first, "cold_s": cold, "warm_s": median(False),
              "tokens": tokens, "text": text}
    if args.child in ("ours", "ours-fast"):
        result["warm_capture_s"] = median(True)
        # where the time goes: the image encoder once per caption (timed inside the same captions), then per
        # decoder step every decoder weight but the image keys/values is read once
        encode, spent = model.encode, []

        def timed_encode(x: torch.Tensor) -> torch.Tensor:
            t = time.perf_counter()
            out = encode(x)
            spent.append(time.perf_counter() - t)
            return out

        model.encode = timed_encode  # type: ignore[method-assign]
        totals = []
        for _ in range(args.runs):
            t = time.perf_counter()
            caption(image)
            totals.append(time.perf_counter() - t)
        model.encode = encode  # type: ignore[method-assign]
        result["encode_s"] = statistics.median(spent)
        result["step_s"] = statistics.median(a - b for a, b in zip(totals, spent, strict=True)) / NEW_TOKENS
        dec = model.text_decoder
        cross_kv = {id(p) for layer in dec.bert.encoder.layer  # image keys/values: computed once per image
                    for m in (layer.crossattention.self.key, layer.crossattention.self.value) for p in m.parameters()}
        result["step_mb"] = sum(p.numel() * p.element_size() for p in dec.parameters() if id(p) not in cross_kv) / 1e6
        if args.child == "ours-fast":
            result["forced_agree"] = _forced_agreement(captioner, load_blip(args.folder)[0], image)
    else:
        result["attn"] = model.config._attn_implementation
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            caption(image)
        result["profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
    print(json.dumps(result))


def _forced_agreement(fast: object, exact_model: object, image: object) -> list[int]:
    """[agreeing, steps]: with the float32 caption's tokens as the prefix at every step (teacher forcing), how
    often the fast model's likeliest next token is float32's. Unlike comparing free-running captions, one early
    flip does not make every later token count as different."""
    import torch

    from studio.engine.caption.decoding import DecodeOptions
    from studio.engine.caption.image import pixels

    opts = DecodeOptions(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    x = torch.from_numpy(pixels(image, fast.pre))[None]  # type: ignore[attr-defined]
    prompt = fast.tokenizer.prompt_ids("")  # type: ignore[attr-defined]
    with torch.inference_mode():
        from studio.engine.caption.decoding import decode

        ref = decode(exact_model, x, prompt, opts)[0].tokens  # type: ignore[arg-type]
        ids = torch.tensor([prompt + ref[:-1]])
        guess = fast.model.text_decoder(ids, fast.model.encode(x))[0].argmax(-1)  # type: ignore[attr-defined]
    return [int((guess[len(prompt) - 1:] == torch.tensor(ref)).sum()), len(ref)]


def run_child(side: str, beams: int, folder: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--beams", str(beams), "--folder", str(folder),
           "--runs", str(args.runs), *(["--profile"] if args.profile else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5, help="warm captions per process (median)")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's top operators per side")
    p.add_argument("--child", choices=("ours", "ours-fast", "transformers"), default=None)
    p.add_argument("--beams", type=int, default=1)
    p.add_argument("--folder", default=None)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        return child(args)
    folder = weights()
    print(f"BLIP base size (BlipConfig() defaults), random weights; {describe()}, {THREADS} threads; skimage astronaut "
          f"512x512 -> 384x384; {NEW_TOKENS} new tokens forced; warm = median of {args.runs}; load {load()}")
    for beams in (1, 3):
        ours = run_child("ours", beams, folder, args)
        hf = run_child("transformers", beams, folder, args)
        fast = run_child("ours-fast", beams, folder, args)
        name = "greedy" if beams == 1 else f"beam {beams}"
        print(f"\n[{name}] tokens equal: {ours['tokens'] == hf['tokens']} ({len(ours['tokens'])} tokens; "
              f"transformers attention {hf['attn']}; load {load()})")
        for label, r in (("ours", ours), ("transformers", hf)):
            print(f"  {label:12s} cold {r['cold_s']:5.2f} s (import {r['import_s']:.2f} + load {r['load_s']:.2f} "
                  f"+ first caption {r['first_s']:.2f}); warm {r['warm_s']:.3f} s")
        print(f"  ours with cross-attention kept: warm {ours['warm_capture_s']:.3f} s")
        step = ours["step_s"]
        print(f"  ours warm = image encoder {ours['encode_s']:.3f} s + {NEW_TOKENS} decoder steps of "
              f"{step * 1e3:.1f} ms "
              f"(each reads {ours['step_mb']:.0f} MB of weights: {ours['step_mb'] / step / 1e3:.1f} GB/s)")
        print(f"  transformers / ours: warm {hf['warm_s'] / ours['warm_s']:.2f}x, "
              f"cold {hf['cold_s'] / ours['cold_s']:.2f}x")
        same = sum(a == b for a, b in zip(fast["tokens"], ours["tokens"], strict=False))
        print(f"  ours fast   cold {fast['cold_s']:5.2f} s; warm {fast['warm_s']:.3f} s (image encoder "
              f"{fast['encode_s']:.3f} s + steps of {fast['step_s'] * 1e3:.1f} ms); transformers / ours fast: warm "
              f"{hf['warm_s'] / fast['warm_s']:.2f}x; tokens equal to float32's: {same} of {len(ours['tokens'])}; "
              f"next token as float32's after float32's prefix: {fast['forced_agree'][0]} of "
              f"{fast['forced_agree'][1]}")
        if args.profile:
            print(f"\n  profile, ours ({name}):\n{ours['profile']}\n  profile, transformers ({name}):\n{hf['profile']}")


if __name__ == "__main__":
    main()
