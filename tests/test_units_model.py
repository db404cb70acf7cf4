"""HuBERT / wav2vec 2.0 feature encoder against transformers' HubertModel / Wav2Vec2Model and torchaudio's HuBERT,
sharing one random-initialised state dict of the real base architecture, on jfk.flac."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.audio.io import load_audio
from studio.engine.units.features import extract_features
from studio.hub.ctranslate2 import CheckpointError
from studio.hub.hubert_weights import LoadedEncoder, build_model, config_from_hf, load_encoder, normalise_keys

DATA = Path(__file__).parent / "data"
TOL = 1e-4  # the tolerance; seen: 4e-6 on every layer


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(DATA / "jfk.flac", 16_000)


def _normalised(wave: np.ndarray) -> torch.Tensor:
    """Wav2Vec2FeatureExtractor's do_normalize."""
    w = torch.from_numpy(wave).double()
    return ((w - w.mean()) / torch.sqrt(w.var(unbiased=False) + 1e-7)).float()


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_base_layers_equal_transformers(kind: str, jfk: np.ndarray) -> None:
    import transformers

    cls, ccls = ((transformers.HubertModel, transformers.HubertConfig) if kind == "hubert"
                 else (transformers.Wav2Vec2Model, transformers.Wav2Vec2Config))
    torch.manual_seed(0)
    ref = cls(ccls()).eval()
    ours = build_model(config_from_hf(ref.config.to_dict()), normalise_keys(ref.state_dict()))
    x = _normalised(jfk)[None]
    with torch.no_grad():
        want = ref(x, output_hidden_states=True).hidden_states
        got = ours(x, attention_of={6}).hidden_states
    assert len(got) == len(want) == 13
    for layer in (6, 9, 12):
        assert got[layer].shape == want[layer].shape == (1, 549, 768)
        assert float((got[layer] - want[layer]).abs().max()) < TOL, layer
    # the engine path (normalisation, blocks logic for a short file) gives the same layer 9
    loaded = LoadedEncoder(ours, "test", normalize=True)
    feats = extract_features(jfk, loaded, 9)
    assert np.abs(feats - want[9][0].numpy()).max() < TOL


def test_pre_layer_norm_model_and_attention_maps(jfk: np.ndarray) -> None:
    """The large models' variant (LayerNorm in every convolution, pre-LN transformer, conv bias), small."""
    import transformers

    torch.manual_seed(1)
    cfg = transformers.HubertConfig(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                                    num_hidden_layers=3, hidden_size=128, num_attention_heads=4,
                                    intermediate_size=256, num_conv_pos_embedding_groups=8)
    cfg._attn_implementation = "eager"  # SDPA returns no weights
    ref = transformers.HubertModel(cfg).eval()
    ours = build_model(config_from_hf(ref.config.to_dict()), normalise_keys(ref.state_dict()))
    x = _normalised(jfk[:48_000])[None]
    with torch.no_grad():
        want = ref(x, output_hidden_states=True, output_attentions=True)
        got = ours(x, attention_of={1, 3})
    for a, b in zip(got.hidden_states, want.hidden_states, strict=True):
        assert float((a - b).abs().max()) < TOL
    assert float((got.last_hidden_state - want.last_hidden_state).abs().max()) < TOL
    assert sorted(got.attentions) == [1, 3]
    for layer in (1, 3):
        assert float((got.attentions[layer] - want.attentions[layer - 1]).abs().max()) < 1e-5
        assert torch.allclose(got.attentions[layer].sum(-1), torch.ones(1), atol=1e-5)


def test_torchaudio_checkpoint_loads_and_agrees(tmp_path: Path, jfk: np.ndarray) -> None:
    """torchaudio's released HuBERT state dicts (no config): read with weights_only, config from the shapes."""
    import torchaudio

    torch.manual_seed(2)
    ref = torchaudio.models.hubert_base().eval()
    path = tmp_path / "hubert_fairseq_base_ls960.pth"
    torch.save(ref.state_dict(), path)
    loaded = load_encoder(path)
    assert loaded.name == str(path) and not loaded.normalize
    assert loaded.model.cfg.num_hidden_layers == 12 and loaded.model.cfg.feat_extract_norm == "group"
    x = torch.from_numpy(jfk)[None]
    with torch.no_grad():
        want, _ = ref.extract_features(x, num_layers=6)
    got = extract_features(jfk, loaded, 6)
    assert np.abs(got - want[5][0].numpy()).max() < TOL


def test_hugging_face_folder_with_pretraining_heads(tmp_path: Path, jfk: np.ndarray) -> None:
    """facebook/wav2vec2-base is a Wav2Vec2ForPreTraining (`wav2vec2.` prefix, quantizer, projections)."""
    import transformers

    torch.manual_seed(3)
    cfg = transformers.Wav2Vec2Config(num_hidden_layers=2, hidden_size=64, num_attention_heads=2,
                                      intermediate_size=128, num_conv_pos_embedding_groups=4)
    ref = transformers.Wav2Vec2ForPreTraining(cfg).eval()
    ref.save_pretrained(tmp_path)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(tmp_path)
    loaded = load_encoder(tmp_path)
    assert loaded.normalize
    with torch.no_grad():
        want = ref.wav2vec2(_normalised(jfk)[None], output_hidden_states=True).hidden_states[2][0].numpy()
    assert np.abs(extract_features(jfk, loaded, 2) - want).max() < TOL


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path: Path) -> None:
    import transformers

    with pytest.raises(CheckpointError, match="not HuBERT"):
        config_from_hf({"model_type": "whisper"})
    torch.manual_seed(4)
    ref = transformers.HubertModel(transformers.HubertConfig(num_hidden_layers=1, hidden_size=32,
                                                             num_attention_heads=2, intermediate_size=64,
                                                             num_conv_pos_embedding_groups=2)).eval()
    state = normalise_keys(ref.state_dict())
    cfg = config_from_hf(ref.config.to_dict())
    bad = dict(state)
    bad["encoder.layers.0.attention.q_proj.weight"] = torch.full((32, 32), float("nan"))
    with pytest.raises(CheckpointError, match="NaN"):
        build_model(cfg, bad)
    missing = {k: v for k, v in state.items() if "final_layer_norm" not in k}
    with pytest.raises(CheckpointError, match="lacks"):
        build_model(cfg, missing)
    (tmp_path / "weights.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_encoder(tmp_path / "weights.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no HuBERT model"):
        load_encoder(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="Unknown speech-unit model"):
        load_encoder("hubert-medium")


def test_offline_without_the_weights_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.hub.download import WeightsMissingError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError, match="not on this computer") as e:
        load_encoder("hubert-base", cache_dir=tmp_path)
    assert "facebook/hubert-base-ls960" in e.value.message
