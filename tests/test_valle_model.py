"""VALL-E X model: the public checkpoint layout, equations checked against a reference written from the public
code's equations, KV cache == recomputation, NAR shapes, loading and its errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from studio.hub.ctranslate2 import CheckpointError
from studio.hub.valle_weights import build_model, config_from_state, load_valle
from studio.models.valle import ARCapture, VallE, ValleConfig

DATA = Path(__file__).parent / "data"
SMALL = ValleConfig(d_model=64, n_head=4, n_layer=2)


def random_model(cfg: ValleConfig = SMALL, seed: int = 0) -> VallE:
    """Every tensor random (alphas, norms and stage embeddings too), so no term of the equations hides."""
    torch.manual_seed(seed)
    model = VallE(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.ndim > 1 else 0.2) + (1.0 if name.endswith("alpha") else 0.0))
    return model


def public_keys() -> dict[str, tuple[int, ...]]:
    keys = {}
    for line in (DATA / "vallex_public_keys.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, *dims = line.split()
            keys[name] = tuple(int(d) for d in dims)
    return keys


def test_layout_equals_public_code_at_release_size() -> None:
    with torch.device("meta"):
        model = VallE()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == public_keys()
    assert sum(p.numel() for p in model.parameters()) == 370_539_524


# -- a reference written from the public code's equations (modules/transformer.py, activation.py, embedding.py,
#    models/vallex.py), on the raw state dict: no module of ours is used --------------------------------------------
def _ln(x: torch.Tensor, sd: dict, name: str) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), sd[f"{name}.weight"], sd[f"{name}.bias"], 1e-5)


def _ada(x: torch.Tensor, sd: dict, name: str, stage: torch.Tensor) -> torch.Tensor:
    wb = stage @ sd[f"{name}.project_layer.weight"].T + sd[f"{name}.project_layer.bias"]
    w, b = wb.split(x.shape[-1], dim=-1)
    return w * _ln(x, sd, f"{name}.norm") + b


def _pe(n: int, d: int) -> torch.Tensor:
    pe = torch.zeros(n, d)
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * -(math.log(10000.0) / d))
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


def _stack(x: torch.Tensor, sd: dict, prefix: str, n_layer: int, n_head: int, mask: torch.Tensor | None,
           stage: torch.Tensor | None) -> torch.Tensor:
    def norm(h: torch.Tensor, name: str) -> torch.Tensor:
        return _ln(h, sd, name) if stage is None else _ada(h, sd, name, stage)

    b, t, c = x.shape
    for i in range(n_layer):
        p = f"{prefix}.layers.{i}"
        h = norm(x, f"{p}.norm1")
        q, k, v = (h @ sd[f"{p}.self_attn.in_proj_weight"].T + sd[f"{p}.self_attn.in_proj_bias"]).chunk(3, -1)
        q, k, v = (z.view(b, t, n_head, -1).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
        if mask is not None:
            att = att.masked_fill(mask, float("-inf"))  # public convention: True = blocked
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, c)
        x = x + y @ sd[f"{p}.self_attn.out_proj.weight"].T + sd[f"{p}.self_attn.out_proj.bias"]
        h = norm(x, f"{p}.norm2")
        h = torch.relu(h @ sd[f"{p}.linear1.weight"].T + sd[f"{p}.linear1.bias"])
        x = x + h @ sd[f"{p}.linear2.weight"].T + sd[f"{p}.linear2.bias"]
    return norm(x, f"{prefix}.norm")


def reference_ar_logits(sd: dict, cfg: ValleConfig, text: torch.Tensor, langs: torch.Tensor,
                        audio: torch.Tensor) -> torch.Tensor:
    d = cfg.d_model
    s, y = text.shape[1], audio.shape[1]
    x = (sd["ar_text_embedding.word_embeddings.weight"][text]
         + sd["ar_language_embedding.word_embeddings.weight"][langs])
    x = x + sd["ar_text_position.alpha"] * _pe(s, d)
    a = sd["ar_audio_embedding.word_embeddings.weight"][audio] + sd["ar_audio_position.alpha"] * _pe(y, d)
    blocked = torch.zeros(s + y, s + y, dtype=torch.bool)
    blocked[:s, s:] = True  # x_attn_mask padded with True over the audio
    blocked[s:, s:] = torch.triu(torch.ones(y, y, dtype=torch.bool), diagonal=1)
    h = _stack(torch.cat([x, a], 1), sd, "ar_decoder", cfg.n_layer, cfg.n_head, blocked, None)
    return h[:, -1] @ sd["ar_predict_layer.weight"].T


def reference_nar_logits(sd: dict, cfg: ValleConfig, text: torch.Tensor, langs: torch.Tensor, prompt: torch.Tensor,
                         known: torch.Tensor, stage: int) -> torch.Tensor:
    """Logits for codebook stage+1 over the generated frames, from `known` (1, N, stage+1) codes."""
    d, p = cfg.d_model, prompt.shape[1]
    x = (sd["nar_text_embedding.word_embeddings.weight"][text]
         + sd["nar_language_embedding.word_embeddings.weight"][langs])
    x = x + sd["nar_text_position.alpha"] * _pe(text.shape[1], d)
    emb = [sd[f"nar_audio_embeddings.{j}.word_embeddings.weight"] for j in range(cfg.n_quantizers)]
    yp = sum(emb[j][prompt[0, :, j]] for j in range(cfg.n_quantizers))
    yg = sum(emb[j][known[0, :, j]] for j in range(stage + 1))
    y = torch.cat([yp, yg])[None]
    y = y + sd["nar_audio_position.alpha"] * _pe(y.shape[1], d)
    h = _stack(torch.cat([x, y], 1), sd, "nar_decoder", cfg.n_layer, cfg.n_head, None,
               sd[f"nar_stage_embeddings.{stage}.word_embeddings.weight"])
    return h[:, text.shape[1] + p:] @ sd[f"nar_predict_layers.{stage}.weight"].T


def _inputs(s_prompt: int = 5, s_text: int = 9, p: int = 12) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(7)
    text = torch.randint(0, 2048, (1, s_prompt + s_text), generator=g)
    langs = torch.tensor([0] * s_prompt + [1] * s_text)
    prompt = torch.randint(0, 1024, (1, p, 8), generator=g)
    return text, langs, prompt


def test_ar_and_nar_logits_equal_reference_equations() -> None:
    model = random_model()
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    text, langs, prompt = _inputs()
    audio = torch.cat([torch.tensor([[SMALL.bos]]), prompt[..., 0], torch.tensor([[3, 900, 17]])], dim=1)
    with torch.no_grad():
        ours = model.ar_logits(text, langs, audio)
        ref = reference_ar_logits(sd, SMALL, text, langs, audio)
        assert ours.shape == (1, 1025)
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)

        known = torch.randint(0, 1024, (1, 6, 8), generator=torch.Generator().manual_seed(3))
        y_emb = model.nar_audio_embeddings[0](torch.cat([prompt[..., 0], known[..., 0]], 1))
        for j in range(1, 8):
            y_emb[:, :prompt.shape[1]] += model.nar_audio_embeddings[j](prompt[..., j])
        x = model._text(text, langs, nar=True)
        for stage in range(7):
            ours = model.nar_logits(x, y_emb, stage)[:, prompt.shape[1]:]
            ref = reference_nar_logits(sd, SMALL, text, langs, prompt, known, stage)
            torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)
            if stage < 6:
                y_emb[:, prompt.shape[1]:] += model.nar_audio_embeddings[stage + 1](known[..., stage + 1])


@pytest.mark.parametrize(("top_k", "temperature"), [(-100, 1.0), (10, 0.7), (-100, 40.0)])
def test_kv_cache_gives_the_tokens_of_recomputation(top_k: int, temperature: float) -> None:
    model = random_model()
    text, langs, prompt = _inputs()
    runs = [model.generate_ar(text, langs, prompt[..., 0], top_k=top_k, temperature=temperature,
                              generator=torch.Generator().manual_seed(11), use_cache=cache)
            for cache in (True, False)]
    assert runs[0].shape[1] > 0
    assert torch.equal(runs[0], runs[1])


def test_ar_stops_at_the_length_cap_and_on_the_end_token() -> None:
    model = random_model()
    text, langs, prompt = _inputs()
    capped = model.generate_ar(text, langs, prompt[..., 0], generator=torch.Generator().manual_seed(1))
    assert capped.shape[1] <= 16 * text.shape[1]
    with torch.no_grad():  # make the end token win every draw
        model.ar_predict_layer.weight[SMALL.eos] = 0
        model.ar_decoder.norm.bias.zero_()
        model.ar_decoder.norm.bias[0] = 100.0
        model.ar_predict_layer.weight[SMALL.eos, 0] = 10.0
    ended = model.generate_ar(text, langs, prompt[..., 0], generator=torch.Generator().manual_seed(1))
    assert ended.shape == (1, 0)
    forced = model.generate_ar(text, langs, prompt[..., 0], generator=torch.Generator().manual_seed(1),
                               force_frames=20)
    assert forced.shape == (1, 20) and int(forced.max()) < SMALL.n_audio_tokens


def test_nar_fills_codebooks_for_exactly_the_ar_frames_and_capture_has_one_row_per_frame() -> None:
    torch.manual_seed(0)
    model = VallE(SMALL).eval()  # torch's initialisation: outputs vary with the input (large weights saturate)
    text, langs, prompt = _inputs()
    capture = ARCapture(text.shape[1], [[] for _ in range(SMALL.n_layer)])
    steps: list[int] = []
    first = model.generate_ar(text, langs, prompt[..., 0], generator=torch.Generator().manual_seed(2),
                              max_frames=30, capture=capture, on_step=steps.append)
    stages: list[int] = []
    codes = model.generate_nar(text, langs, prompt, first, on_stage=stages.append)
    n = first.shape[1]
    assert codes.shape == (1, n, 8) and torch.equal(codes[..., 0], first)
    assert all(len(set(codes[0, :, j].tolist())) > 1 for j in range(8))  # not one token repeated
    assert int(codes.min()) >= 0 and int(codes.max()) < 1024
    assert steps == list(range(1, n + 1)) and stages == list(range(1, 8))
    att = capture.matrix()
    assert att.shape == (SMALL.n_layer, n, text.shape[1])
    assert float(att.min()) >= 0.0 and float(att.sum(-1).max()) <= 1.0 + 1e-2  # a share of all keys
    assert float(att.sum(-1).min()) > 0.0

    # the prompt's codes are read, not regenerated: other prompt codes change the NAR's output
    other = prompt.clone()
    other[..., 1:] = (other[..., 1:] + 1) % 1024
    assert not torch.equal(model.generate_nar(text, langs, other, first), codes)


def test_release_size_checkpoint_file_loads_strictly(tmp_path: Path) -> None:
    """A random model of the real size saved as the release does ({"model": state dict}) loads through the
    download-cache path's loader (weights_only, memory-mapped) with every tensor equal."""
    torch.manual_seed(0)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in VallE().state_dict().items()}
    state = {k: torch.randn(s) * 0.02 for k, s in shapes.items()}
    for j in range(6):  # the release stores tied weights once
        state[f"nar_predict_layers.{j}.weight"] = state[f"nar_audio_embeddings.{j + 2}.word_embeddings.weight"]
    path = tmp_path / "vallex-checkpoint.pt"
    torch.save({"model": state}, path)
    model = load_valle(path)
    assert model.cfg == ValleConfig()
    loaded = model.state_dict()
    for k in ("ar_decoder.layers.11.linear2.weight", "nar_stage_embeddings.6.word_embeddings.weight",
              "ar_text_position.alpha", "nar_predict_layers.3.weight"):
        assert torch.equal(loaded[k], state[k])
    assert model.nar_predict_layers[0].weight is model.nar_audio_embeddings[2].weight


def _small_state() -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in random_model().state_dict().items()}


def test_missing_and_misshapen_keys_are_named(tmp_path: Path) -> None:
    state = _small_state()
    assert config_from_state(state) == ValleConfig(d_model=64, n_head=1, n_layer=2)
    model = build_model(state, SMALL)
    assert torch.equal(model.state_dict()["ar_decoder.layers.1.norm2.bias"], state["ar_decoder.layers.1.norm2.bias"])

    broken = dict(state)
    del broken["nar_decoder.layers.1.norm1.project_layer.bias"]
    with pytest.raises(CheckpointError, match=r"lacks nar_decoder\.layers\.1\.norm1\.project_layer\.bias"):
        build_model(broken, SMALL)
    broken = dict(state)
    broken["ar_decoder.layers.0.linear1.weight"] = torch.zeros(10, 64)
    with pytest.raises(CheckpointError, match=r"ar_decoder\.layers\.0\.linear1\.weight has shape \(10, 64\)"):
        build_model(broken, SMALL)
    broken = dict(state)
    broken["ar_decoder.layers.0.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"unexpected tensor ar_decoder\.layers\.0\.extra"):
        build_model(broken, SMALL)
    broken = dict(state)
    broken["ar_predict_layer.weight"] = broken["ar_predict_layer.weight"].clone()
    broken["ar_predict_layer.weight"][3, 3] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        build_model(broken, SMALL)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_damaged_files_are_refused_with_a_message(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vallex-checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="vallex-checkpoint.pt"):
        load_valle(path)


def test_other_checkpoints_and_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "whisper.pt"
    torch.save({"dims": {}, "model_state_dict": {"encoder.blocks.0.w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="openai-whisper checkpoint; expected a VALL-E X checkpoint"):
        load_valle(path)
    with pytest.raises(CheckpointError, match="Unknown voice model 'bark'"):
        load_valle("bark")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_valle(tmp_path / "nothing.pt")


def test_offline_without_the_checkpoint_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.hub.download import WeightsMissingError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as e:
        load_valle("vallex", cache_dir=tmp_path)
    text = f"{e.value.message} {e.value.remedy}"
    assert "Plachta/VALL-E-X" in text and "vallex-checkpoint.pt" in text


@pytest.mark.parametrize("bf16", [True, False], ids=["bfloat16-pays", "bfloat16-emulated"])
def test_fast_precision_on_cpu_stays_close_to_float32(bf16: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """make_fast: int8 AR linears; a bfloat16 NAR where this CPU runs bfloat16 faster, else float32 (emulated
    bfloat16 made a synthesis 8x slower); the AR's next-token distribution barely moves."""
    import copy

    from studio.models.valle import make_fast

    monkeypatch.setattr("studio.models.valle.bfloat16_pays", lambda: bf16)
    torch.manual_seed(0)
    exact = VallE(SMALL).eval()
    fast = make_fast(copy.deepcopy(exact), "cpu")
    assert fast.nar_decoder.layers[0].linear1.weight.dtype == (torch.bfloat16 if bf16 else torch.float32)
    assert fast.ar_decoder.layers[0].self_attn.in_proj is not None
    assert "quantized" in type(fast.ar_decoder.layers[0].linear1).__module__
    first = fast.ar_decoder.layers[0]
    for layer in (first.linear1, first.self_attn.in_proj, fast.ar_predict_layer):
        assert layer.weight().qscheme() == torch.per_channel_affine  # one scale per row (studio.models.int8)
    text, langs, prompt = _inputs()
    audio = torch.cat([torch.tensor([[SMALL.bos]]), prompt[..., 0]], dim=1)
    with torch.no_grad():
        p = exact.ar_logits(text, langs, audio).softmax(-1)
        q = fast.ar_logits(text, langs, audio).float().softmax(-1)
    assert 0.5 * float((p - q).abs().sum()) < 0.02  # total variation distance
    first = fast.generate_ar(text, langs, prompt[..., 0], generator=torch.Generator().manual_seed(1), max_frames=12)
    codes = fast.generate_nar(text, langs, prompt, first)
    assert codes.shape == (1, first.shape[1], 8) and int(codes.max()) < 1024
    same = exact.generate_nar(text, langs, prompt, first)
    assert float((codes == same).float().mean()) > 0.8
    assert make_fast(fast, "cpu") is fast  # made fast once only


def test_fast_takes_a_model_in_bfloat16_too() -> None:
    """The int8 layers take float32 input: a model handed over in bfloat16 is made float32 first."""
    from studio.models.valle import make_fast

    torch.manual_seed(0)
    fast = make_fast(VallE(SMALL).eval().to(torch.bfloat16), "cpu")
    text, langs, prompt = _inputs()
    first = fast.generate_ar(text, langs, prompt[..., 0], generator=torch.Generator().manual_seed(1), max_frames=6)
    assert fast.generate_nar(text, langs, prompt, first).shape == (1, first.shape[1], 8)


def test_import_local_weights_takes_a_vallex_checkpoint(tmp_path: Path) -> None:
    from studio.hub.local_import import import_weights, imported_models
    from studio.hub.valle_weights import save_checkpoint

    source = tmp_path / "downloads" / "vallex-checkpoint.pt"
    source.parent.mkdir()
    save_checkpoint(random_model(), source)
    before = source.read_bytes()
    imported = import_weights(source, cache_dir=tmp_path / "cache")
    assert (imported.kind, imported.format) == ("valle", "pt")
    listed = imported_models(tmp_path / "cache", "valle")
    assert [m.path for m in listed] == [imported.path] and source.read_bytes() == before
    model = load_valle(imported.path)
    assert model.cfg == SMALL
