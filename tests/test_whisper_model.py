"""Our Whisper against openai-whisper on one shared state dict, and the three checkpoint loaders against each other."""

import json

import numpy as np
import pytest
import torch

from studio.audio.io import load_audio
from studio.audio.mel import log_mel_spectrogram
from studio.hub.ctranslate2 import CheckpointError, read_ct2_model
from studio.hub.whisper_weights import (
    WHISPER_SIZES,
    build_model,
    bundled_folder,
    from_ct2,
    hf_name_map,
    load_whisper,
)
from studio.models.whisper import AttentionCapture, Whisper, WhisperDims, linear

whisper = pytest.importorskip("whisper")


def _random_pair(dims: WhisperDims, seed: int = 0):
    from whisper.model import ModelDimensions
    from whisper.model import Whisper as OpenAIWhisper

    torch.manual_seed(seed)
    ref = OpenAIWhisper(ModelDimensions(**dims.to_dict()))
    for p in ref.parameters():  # openai leaves some parameters uninitialised
        torch.nn.init.normal_(p, std=0.05)
    ours = Whisper(dims)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours.eval(), ref.eval()


@pytest.mark.parametrize("size", ["tiny", "base"])
def test_random_weights_match_openai_whisper_encoder_and_decoder(size, data):
    dims = WHISPER_SIZES[size]
    ours, ref = _random_pair(dims)
    audio = load_audio(data / "jfk.flac")
    mel = log_mel_spectrogram(audio, padding=480000)[:, :3000][None]
    assert torch.allclose(mel[0], whisper.log_mel_spectrogram(torch.from_numpy(audio), padding=480000)[:, :3000],
                          atol=1e-5)
    tokens = torch.tensor([[50258, 50259, 50359, 50363, 400, 370, 452, 7177]])
    with torch.no_grad():
        enc_ours, enc_ref = ours.encoder(mel), ref.encoder(mel)
        assert (enc_ours - enc_ref).abs().max() < 1e-4
        logits_ours, logits_ref = ours.decoder(tokens, enc_ours), ref.decoder(tokens, enc_ref)
    assert (logits_ours - logits_ref).abs().max() < 1e-4


def test_kv_cache_steps_equal_the_full_forward():
    ours, _ = _random_pair(WHISPER_SIZES["tiny"], seed=1)
    feats = torch.randn(1, 1500, 384)
    tokens = torch.tensor([[50258, 50259, 50359, 400, 370, 452]])
    with torch.no_grad():
        full = ours.decoder(tokens, feats)
        cache = ours.new_cache()
        first = ours.decoder(tokens[:, :3], feats, cache=cache)
        steps = [ours.decoder(tokens[:, i: i + 1], feats, cache=cache, offset=i) for i in range(3, 6)]
    stepped = torch.cat([first] + steps, dim=1)
    assert (stepped - full).abs().max() < 1e-4


def test_attention_capture_returns_normalised_weights_and_changes_nothing():
    ours, _ = _random_pair(WHISPER_SIZES["tiny"], seed=2)
    feats = torch.randn(1, 1500, 384)
    tokens = torch.tensor([[50258, 50259, 50359, 400, 370]])
    capture = AttentionCapture()
    with torch.no_grad():
        plain = ours.decoder(tokens, feats)
        captured = ours.decoder(tokens, feats, capture=capture)
    weights = capture.stacked()
    assert weights.shape == (4, 1, 6, 5, 1500)
    assert torch.allclose(weights.sum(-1), torch.ones(4, 1, 6, 5), atol=1e-5)
    assert (plain - captured).abs().max() < 1e-4


def test_every_published_size_builds_its_dimensions():
    assert WHISPER_SIZES["large-v3"].n_mels == 128 and WHISPER_SIZES["large-v3"].n_vocab == 51866
    assert WHISPER_SIZES["turbo"].n_text_layer == 4 and WHISPER_SIZES["turbo"].n_audio_layer == 32
    assert not WHISPER_SIZES["tiny.en"].is_multilingual and WHISPER_SIZES["tiny"].num_languages == 99
    assert WHISPER_SIZES["large-v3"].num_languages == 100


@pytest.fixture(scope="module")
def bundled_state():
    ckpt = load_whisper("tiny.en")
    return ckpt.model.dims, {k: v.clone() for k, v in ckpt.model.state_dict().items()}


def _logits(model: Whisper) -> torch.Tensor:
    torch.manual_seed(0)
    mel = torch.randn(1, 80, 3000)
    with torch.no_grad():
        return model(mel, torch.tensor([[50257, 50362, 843, 523]]))


def test_openai_pt_hf_safetensors_and_ct2_loaders_give_identical_logits(bundled_state, tmp_path):
    from safetensors.torch import save_file

    dims, state = bundled_state
    reference = _logits(load_whisper("tiny.en").model)
    # openai-whisper .pt layout
    pt = tmp_path / "tiny.en.pt"
    torch.save({"dims": dims.to_dict(), "model_state_dict": state}, pt)
    from_pt = load_whisper(pt)
    assert from_pt.format == "openai" and from_pt.model.alignment_heads[0] == (1, 0)
    # Hugging Face layout: config.json + model.safetensors with HF names (proj_out tied, so absent)
    hf = tmp_path / "whisper-tiny.en"
    hf.mkdir()
    names = hf_name_map(dims)
    save_file({names[k]: v.contiguous() for k, v in state.items() if k in names}, str(hf / "model.safetensors"))
    (hf / "config.json").write_text(json.dumps({
        "num_mel_bins": 80, "max_source_positions": 1500, "d_model": 384, "encoder_attention_heads": 6,
        "encoder_layers": 4, "vocab_size": 51864, "max_target_positions": 448, "decoder_attention_heads": 6,
        "decoder_layers": 4}))
    (hf / "tokenizer.json").write_bytes((bundled_folder() / "tokenizer.json").read_bytes())
    from_hf = load_whisper(hf)
    assert from_hf.format == "hf"
    for loaded in (from_pt, from_hf):
        theirs = loaded.model.state_dict()
        assert all(torch.equal(theirs[k], v) for k, v in state.items())  # bit for bit the same weights
        # same logits; BLAS may pick another kernel for differently aligned buffers, hence not bit-exact
        assert (_logits(loaded.model) - reference).abs().max() < 1e-4


def test_ct2_reader_splits_fused_projections_and_keeps_stored_positions():
    ct2 = read_ct2_model(bundled_folder() / "model.bin")
    v = ct2.variables
    assert ct2.spec == "WhisperSpec" and v["decoder/embeddings/weight"].dtype == np.float16
    dims = WHISPER_SIZES["tiny.en"]
    state = from_ct2(v, dims)
    fused = v["encoder/layer_0/self_attention/linear_0/weight"].astype(np.float32)
    assert np.array_equal(state["encoder.blocks.0.attn.value.weight"].numpy(), fused[768:])
    # the output projection is only an alias of the embedding
    assert "decoder/projection/weight" in v and v["decoder/projection/weight"] is v["decoder/embeddings/weight"]
    stored = v["encoder/position_encodings/encodings"].astype(np.float32)
    assert np.array_equal(state["encoder.positional_embedding"].numpy(), stored)
    from studio.models.whisper import sinusoids
    assert 0 < np.abs(stored - sinusoids(1500, 384).numpy()).max() < 1e-3  # fp16-rounded, not recomputed


def test_damaged_checkpoints_are_clear_errors(tmp_path, bundled_state):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "model.bin").write_bytes((bundled_folder() / "model.bin").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load_whisper(bad)
    dims, state = bundled_state
    pt = tmp_path / "partial.pt"
    torch.save({"dims": dims.to_dict(),
                "model_state_dict": {k: v for k, v in state.items() if "decoder.ln" not in k}}, pt)
    with pytest.raises(CheckpointError, match="lacks decoder.ln"):
        load_whisper(pt)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError):
        load_whisper(tmp_path / "notes.txt")


def test_build_model_rejects_wrong_shapes(bundled_state):
    dims, state = bundled_state
    with pytest.raises(CheckpointError, match="shape"):
        build_model(WhisperDims(**{**dims.to_dict(), "n_text_ctx": 224}), state, None)


def test_hugging_face_layout_matches_transformers_whisper():
    """Our HF name map against the real WhisperForConditionalGeneration, random tiny.en dims."""
    transformers = pytest.importorskip("transformers")
    from studio.hub.whisper_weights import dims_from_hf_config, from_hf

    cfg = transformers.WhisperConfig(vocab_size=51864, num_mel_bins=80, encoder_layers=4, decoder_layers=4,
                                     encoder_attention_heads=6, decoder_attention_heads=6, d_model=384,
                                     encoder_ffn_dim=1536, decoder_ffn_dim=1536, max_source_positions=1500,
                                     max_target_positions=448)
    torch.manual_seed(0)
    hf = transformers.WhisperForConditionalGeneration(cfg).eval()
    dims = dims_from_hf_config(cfg.to_dict())
    ours = build_model(dims, from_hf(hf.state_dict(), dims), None)
    mel = torch.randn(1, 80, 3000)
    tokens = torch.tensor([[50257, 50362, 843, 523]])
    with torch.no_grad():
        theirs = hf(input_features=mel, decoder_input_ids=tokens).logits
        assert (ours(mel, tokens) - theirs).abs().max() < 1e-4


@pytest.mark.parametrize("n_vocab", [51864, 51865])  # .en and multilingual: even and odd vocabularies
def test_logits_of_one_row_equal_the_plain_product(n_vocab: int) -> None:
    """The one-row CPU path multiplies two halves of the vocabulary at once (an odd one's last row on its own):
    the same numbers in every column, within float rounding; and so every linear of a decoder step."""
    torch.manual_seed(0)
    dims = WhisperDims(n_mels=80, n_audio_ctx=8, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                       n_vocab=n_vocab, n_text_ctx=8, n_text_state=32, n_text_head=2, n_text_layer=1)
    dec = Whisper(dims).eval().decoder
    x = torch.randn(1, 1, 32)
    w = dec.token_embedding.weight.detach()
    with torch.inference_mode():
        got = dec.logits(x)
        assert got.shape == (1, 1, n_vocab)
        torch.testing.assert_close(got, x @ w.T.contiguous(), rtol=1e-5, atol=1e-5)
        rows = torch.randn(3, 1, 32)  # beams take the other path; the same values within rounding
        torch.testing.assert_close(dec.logits(rows), rows @ w.T, rtol=1e-5, atol=1e-5)
        block = dec.blocks[0]
        for layer in (block.attn.query, block.attn.key, block.mlp[0], block.mlp[2]):
            inp = torch.randn(1, 1, layer.in_features)
            torch.testing.assert_close(linear(layer, inp), layer(inp), rtol=1e-5, atol=1e-5)
        dec.token_embedding.weight.copy_(torch.randn_like(w))  # a replaced embedding is not served stale
        torch.testing.assert_close(dec.logits(x), x @ dec.token_embedding.weight.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("vocab", [51864, 51865, 7])
def test_beam_logits_come_out_row_major_for_even_and_odd_vocabularies(vocab: int) -> None:
    from studio.models.whisper import _rows_first

    by_vocab = torch.randn(vocab, 5)
    rows = _rows_first(by_vocab)
    assert rows.is_contiguous() and torch.equal(rows, by_vocab.T)  # log_softmax on a strided view was 4x slower
