"""Features of long recordings in blocks against one pass, and the inputs that have no features (too short), or
odd ones (silence): real speech from tests/data, a random-initialised HuBERT of the base layout at half its width
and depth (the convolutions over 106 s of audio are most of the time; at full width this file took 95 s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.audio.io import load_audio
from studio.engine.units.codebook import Codebook
from studio.engine.units.features import extract_features, iter_features
from studio.engine.units.kmeans import fit_kmeans
from studio.engine.units.units import assign, units_of
from studio.errors import StudioError
from studio.hub.hubert_weights import LoadedEncoder, build_model, config_from_hf, normalise_keys

DATA = Path(__file__).parent / "data"
FILES = ["jfk.flac", "vallex-en-1.wav", "vallex-ja-1.wav", "encodec-test_24k.wav", "vallex-zh-1.wav"]


@pytest.fixture(scope="module")
def encoder() -> LoadedEncoder:
    import transformers

    torch.manual_seed(0)
    cfg = transformers.HubertConfig(num_hidden_layers=6, conv_dim=(256,) * 7, hidden_size=384, num_attention_heads=6,
                                    intermediate_size=1536)
    ref = transformers.HubertModel(cfg).eval()
    return LoadedEncoder(build_model(config_from_hf(ref.config.to_dict()), normalise_keys(ref.state_dict())),
                         "hubert-base", normalize=True)


@pytest.fixture(scope="module")
def long_speech() -> np.ndarray:
    """106 s: every test recording, then each reversed, then the first two again."""
    parts = [load_audio(DATA / f, 16_000) for f in FILES]
    return np.concatenate(parts + [p[::-1] for p in parts] + parts[:2])


def test_blocks_agree_with_one_pass_on_units(encoder: LoadedEncoder, long_speech: np.ndarray) -> None:
    """The issue's bar: at least 99 % of frames get the same unit. A random model attends to everything (a trained
    one mostly nearby), so this is the hard case: seen 99.98 % here with 60 s blocks and 10 s context
    (99.9 % with the full-width base model and 30 s blocks)."""
    one = extract_features(long_speech, encoder, 6, block_s=1e9)
    assert one.shape == (5290, 384)
    starts = [b.first_frame for b in iter_features(long_speech, encoder, 6)]
    assert starts == [0, 3000]  # two blocks: the default block size was used
    blocks = extract_features(long_speech, encoder, 6)
    cb = Codebook(fit_kmeans(torch.from_numpy(one), 100).numpy(), "hubert-base", 6)
    agree = float((assign(blocks, cb) == assign(one, cb)).mean())
    assert agree >= 0.99, agree


def test_units_assigned_block_by_block_equal_units_of_all_features(encoder: LoadedEncoder,
                                                                   long_speech: np.ndarray) -> None:
    piece = long_speech[:16_000 * 12]
    feats = extract_features(piece, encoder, 4, block_s=4.0, context_s=1.0)
    cb = Codebook(fit_kmeans(torch.from_numpy(feats), 20).numpy(), "hubert-base", 4)
    streamed = units_of(piece, encoder, cb, block_s=4.0, context_s=1.0)
    assert np.array_equal(streamed.units, assign(feats, cb))
    assert streamed.duration == pytest.approx(12.0) and streamed.frame_rate == 50.0


def test_convolutional_features_of_blocks_equal_one_pass_exactly(encoder: LoadedEncoder,
                                                                 long_speech: np.ndarray) -> None:
    """Layer 0 (convolutions + positional convolution, no attention): with the whole file's normalisation and
    GroupNorm statistics, blocks whose context covers the positional kernel (64 frames) give one pass's values."""
    piece = long_speech[:16_000 * 20]
    one = extract_features(piece, encoder, 0, block_s=1e9)
    blocks = extract_features(piece, encoder, 0, block_s=3.0, context_s=1.5)
    assert blocks.shape == one.shape == (999, 384)
    assert np.abs(blocks - one).max() < 1e-4
    # without the whole file's statistics each block would normalise itself: far apart (guards the test)
    x = torch.from_numpy(piece)
    x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
    with torch.no_grad():
        own = encoder.model(x[None, 16_000 * 10:16_000 * 13 + 80], layer=0).hidden_states[0][0]
    assert float((own[75:150] - torch.from_numpy(one[575:650])).abs().max()) > 1e-2


def test_audio_shorter_than_one_frame_is_refused(encoder: LoadedEncoder) -> None:
    with pytest.raises(StudioError, match=r"12\.5 ms long, shorter than one frame of the model \(25 ms\)"):
        extract_features(np.zeros(200, np.float32), encoder, 6)
    assert extract_features(np.zeros(400, np.float32), encoder, 6).shape == (1, 384)  # exactly one frame


def test_silence_gives_finite_features_and_one_unit_run(encoder: LoadedEncoder) -> None:
    silence = np.zeros(16_000 * 2, np.float32)
    feats = extract_features(silence, encoder, 6)
    assert feats.shape == (99, 384) and np.isfinite(feats).all()
    cb = Codebook(fit_kmeans(torch.from_numpy(feats), 5).numpy(), "hubert-base", 6)
    runs = units_of(silence, encoder, cb).runs()
    assert len(runs) <= 3  # the edges see the padding of the positional convolution, the middle is one unit


def test_layers_out_of_range_are_refused(encoder: LoadedEncoder) -> None:
    with pytest.raises(StudioError, match="layers 0 .* to 6; layer 7 does not exist"):
        extract_features(np.zeros(16_000, np.float32), encoder, 7)


def test_fit_on_the_first_frames_then_assign_the_rest(encoder: LoadedEncoder, long_speech: np.ndarray,
                                                      tmp_path: Path) -> None:
    """Hours of audio hold at most max_fit_frames features: k-means is fitted on the first ones and every frame
    gets the nearest of those centres; --features is written block by block into a valid .npy."""
    from studio.engine.units.features import NpyRows
    from studio.engine.units.units import fit_and_assign

    piece = long_speech[:16_000 * 20]
    path = tmp_path / "f.npy"
    with open(path, "wb") as fh:
        rows = NpyRows(fh, 999, 384)
        result, cb = fit_and_assign(piece, encoder, 3, 12, max_fit_frames=300, block_s=4.0, context_s=1.0,
                                    sink=rows)
        rows.finish()
    feats = np.load(path)
    assert feats.shape == (999, 384) and np.array_equal(feats, extract_features(piece, encoder, 3, 4.0, 1.0))
    assert np.array_equal(result.units, assign(feats, cb))
    first = Codebook(fit_kmeans(torch.from_numpy(feats[:300]), 12).numpy(), cb.model, cb.layer)
    assert np.array_equal(first.centers, cb.centers)  # fitted on exactly the first 300 frames
    with pytest.raises(RuntimeError, match="does not fit"):
        NpyRows(open(tmp_path / "g.npy", "wb"), 2, 384)(np.zeros((3, 384), np.float32))
