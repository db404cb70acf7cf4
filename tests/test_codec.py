"""EnCodec against the `encodec` package on one shared random state dict, the two checkpoint layouts, code files."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.audio.io import load_audio
from studio.engine.codec.analysis import analyze, codebook_stats, decode_codes, encode_audio
from studio.engine.codec.files import CodeFile, CodeFileError, read_codes, read_ecdc, read_npz, write_codes, write_ecdc
from studio.hub.encodec_weights import build_model, config_from_state, from_original, load_encodec

encodec = pytest.importorskip("encodec")
DATA = Path(__file__).resolve().parent / "data"  # also for test_codec_ui, which calls random_pair without fixtures


def random_pair(khz: int, seed: int = 0, data: Path = DATA):
    """The package's model with random weights and codebooks drawn from its own latents of other speech, and ours
    from its state. (Codebooks of unit-scale noise sit so far from the latents, about 0.03, that every frame picks
    the same code: equal codes would then say nothing about the encoder.)"""
    torch.manual_seed(seed)
    ref = (encodec.EncodecModel.encodec_model_24khz if khz == 24 else encodec.EncodecModel.encodec_model_48khz)(
        pretrained=False)
    ref.name = f"encodec_{khz}khz"
    # other speech than the test inputs: codebooks fitted to the very frames coded would leave near-ties
    wav = torch.from_numpy(load_audio(data / "vallex-en-1.wav", ref.sample_rate))[None, None].repeat(1, ref.channels, 1)
    if ref.normalize:  # as the package scales each segment before encoding it
        wav = wav / (1e-8 + wav.mean(dim=1, keepdim=True).pow(2).mean().sqrt())
    layers = ref.quantizer.vq.layers
    fit_codebooks(ref.encoder, layers, [layer._codebook.embed for layer in layers], wav, seed)
    ours_state = from_original(ref.state_dict())
    return ref.eval(), build_model(config_from_state(ours_state), ours_state)


def fit_codebooks(encoder, layers, embeds, wav, seed: int = 0) -> None:
    """Each stage's codebook: residual frames of `wav` after the stages before it, slightly jittered so that no
    two entries tie. `layers[i].encode/decode` take and give (B, D, T); `embeds[i]` is the (bins, D) table."""
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        residual = encoder(wav)
        for layer, embed in zip(layers, embeds, strict=True):
            vecs = residual[0].T
            pick = vecs[torch.randint(len(vecs), (embed.shape[0],), generator=g)]
            embed.copy_(pick + 0.05 * vecs.std() * torch.randn(pick.shape, generator=g))
            residual = residual - layer.decode(layer.encode(residual))


# Our encoder and the package's agree to about 3e-6 of the latent scale (float rounding of folded weight norm),
# which now and then flips a nearest-code decision between two almost equally near entries: seen at most
# 0.44 % of the codes (24 kHz, 12 kbps, jfk), none below 6 kbps. A broken encoder changes most of them.
NEAR_TIES = 0.01


def assert_same_codes(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    assert len(torch.unique(theirs[0, 0])) >= 20  # the codes follow the audio (a constant code would prove nothing)
    assert (ours != theirs).float().mean().item() < NEAR_TIES


@pytest.fixture(scope="module")
def pair24(data):
    return random_pair(24, data=data)


@pytest.fixture(scope="module")
def pair48(data):
    return random_pair(48, data=data)


def _inputs(data, rate: int, channels: int):
    out = []
    for name in ("encodec-test_24k.wav", "jfk.flac"):
        wav = torch.from_numpy(load_audio(data / name, rate))[: rate * 6]
        wav = wav[None].repeat(channels, 1) * torch.linspace(1.0, 0.6, channels)[:, None]
        out.append(wav)
    return out


@pytest.mark.parametrize("khz", [24, 48])
def test_codes_equal_the_package_and_audio_within_1e4_at_every_bandwidth(khz, pair24, pair48, data):
    ref, ours = pair24 if khz == 24 else pair48
    for wav in _inputs(data, ours.cfg.sample_rate, ours.cfg.channels):
        for bw in ours.cfg.bandwidths:
            ref.set_target_bandwidth(bw)
            with torch.inference_mode():
                frames = ref.encode(wav[None])
                theirs = torch.cat([f[0] for f in frames], -1)
                codes, scales = ours.encode(wav[None], bw)
                audio_ref = ref.decode(frames)[..., : wav.shape[-1]]
                audio = ours.decode(theirs, scales, wav.shape[-1])  # the two decoders on the same codes
            assert codes.shape[1] == ours.cfg.n_q_for(bw)
            assert_same_codes(codes, theirs)
            assert (audio - audio_ref).abs().max() < 1e-4


@pytest.mark.parametrize("khz", [24, 48])
def test_ecdc_bytes_equal_the_package_and_read_both_ways(khz, pair24, pair48, data, tmp_path):
    from encodec.compress import compress, decompress

    ref, ours = pair24 if khz == 24 else pair48
    ref.set_target_bandwidth(6.0)
    wav = _inputs(data, ours.cfg.sample_rate, ours.cfg.channels)[1]
    theirs = compress(ref, wav, use_lm=False)
    codes, scales = encode_audio(ours, wav.numpy(), 6.0)
    with torch.inference_mode():
        frames = ref.encode(wav[None])
    their_codes = torch.cat([f[0] for f in frames], -1)
    assert_same_codes(torch.from_numpy(codes)[None], their_codes)
    codes = their_codes[0].numpy()  # the file format on the package's codes (ours may differ at a near-tie)
    if scales is not None:
        scales = [float(f[1].view(-1)[0]) for f in frames]
    path = tmp_path / "ours.ecdc"
    write_ecdc(path, CodeFile(codes, f"encodec_{khz}khz", wav.shape[-1], scales))
    assert path.read_bytes() == theirs
    # the package reads ours (it loads its own pretrained model, so use its reader on a random one)
    back = read_ecdc(path)
    assert np.array_equal(back.codes, codes) and back.audio_length == wav.shape[-1]
    ours_audio = decode_codes(ours, back.codes, back.scales, back.audio_length)
    import importlib

    ec = importlib.import_module("encodec.compress")

    real = ec.MODELS[f"encodec_{khz}khz"]
    ec.MODELS[f"encodec_{khz}khz"] = lambda: ref  # the package's decompressor, with the shared weights
    try:
        their_audio, rate = decompress(path.read_bytes())
    finally:
        ec.MODELS[f"encodec_{khz}khz"] = real
    assert rate == ours.cfg.sample_rate and np.abs(their_audio.numpy() - ours_audio).max() < 1e-4


def test_original_and_hugging_face_layouts_give_the_packages_codes(pair24, data, tmp_path):
    from safetensors.torch import save_file

    ref, _ = pair24
    th = tmp_path / "encodec_24khz-random.th"
    torch.save(ref.state_dict(), th)
    hf = tmp_path / "encodec_24khz"
    hf.mkdir()
    hf_state = {}
    for name, t in ref.state_dict().items():  # the release -> HF renaming, weight norm kept as g/v
        new = (name.replace("encoder.model.", "encoder.layers.").replace("decoder.model.", "decoder.layers.")
               .replace(".conv.conv.", ".conv.").replace(".convtr.convtr.", ".conv."))
        new = new.replace("quantizer.vq.layers.", "quantizer.layers.").replace("._codebook.", ".codebook.")
        hf_state[new] = t.contiguous()
    save_file(hf_state, str(hf / "model.safetensors"))
    (hf / "config.json").write_text(json.dumps({
        "sampling_rate": 24000, "audio_channels": 1, "target_bandwidths": [1.5, 3.0, 6.0, 12.0, 24.0],
        "upsampling_ratios": [8, 5, 4, 2], "norm_type": "weight_norm", "use_causal_conv": True,
        "normalize": False, "chunk_length_s": None, "overlap": None}))
    wav = torch.from_numpy(load_audio(data / "jfk.flac", 24000))[None, None]
    ref.set_target_bandwidth(6.0)
    with torch.inference_mode():
        a, _ = load_encodec(th).encode(wav, 6.0)
        b, _ = load_encodec(hf).encode(wav, 6.0)
        theirs = torch.cat([f[0] for f in ref.encode(wav)], -1)  # the package's own model on the saved weights
    assert a.shape == (1, 8, 825) and torch.equal(a, b)
    assert_same_codes(a, theirs)


def test_codebook_statistics_on_constructed_codes():
    uniform = np.tile(np.arange(1024), 3)[None]
    constant = np.full((1, 3072), 7)
    half = np.tile(np.arange(512), 6)[None]
    stats = codebook_stats(np.concatenate([uniform, constant, half]), frame_rate=75)
    assert stats[0].entropy_bits == pytest.approx(10.0) and stats[0].used_codes == 1024
    assert stats[0].kbps == pytest.approx(0.75)  # 10 bits x 75 frames/s
    assert stats[1].entropy_bits == 0.0 and stats[1].used_codes == 1
    assert stats[2].entropy_bits == pytest.approx(9.0) and stats[2].usage[5] == 6


def fitted_codec(data, seed: int = 3):
    """Random SEANet, codebooks drawn from its residuals on other speech (EnCodec's initialisation): codes that
    vary with the audio, as a trained model's do."""
    _, ours = random_pair(24, seed, data)
    wav = torch.from_numpy(load_audio(data / "encodec-test_24k.wav", 24000))[None, None]
    with torch.inference_mode():
        residual = ours.encoder(wav)[0].T.clone()
        g = torch.Generator().manual_seed(0)
        for layer in ours.quantizer.layers[:8]:
            layer.embed.copy_(residual[torch.randint(len(residual), (1024,), generator=g)])
            residual = residual - layer.decode(layer.encode(residual))
    return ours


def test_each_stage_removes_latent_energy_when_codebooks_fit_the_data(data):
    ours = fitted_codec(data)
    path = data / "jfk.flac"
    result = analyze(ours, path, 6.0, stats_seconds=4.0)
    energies = [s.residual_energy for s in result.stages]
    assert len(energies) == 8 and all(b < a for a, b in zip(energies, energies[1:], strict=False)), energies
    assert energies[0] < 1.0 and result.codes.shape == (8, 825) and abs(result.duration - 11.0) < 0.01
    assert len(result.codebooks) == 8 and result.nominal_kbps == 6.0


def test_vallex_preset_reads_as_an_8_by_225_grid_and_round_trips(data, tmp_path):
    f = read_npz(data / "vallex-preset-librispeech_1.npz")
    assert f.codes.shape == (8, 225) and f.codes.dtype == np.int64 and f.lang_code is not None
    write_codes(tmp_path / "copy.npz", f)
    with np.load(tmp_path / "copy.npz") as z, np.load(data / "vallex-preset-librispeech_1.npz") as orig:
        assert np.array_equal(z["audio_tokens"], orig["audio_tokens"])
        assert np.array_equal(z["text_tokens"], orig["text_tokens"])


def test_bad_code_files_are_clear_errors(tmp_path, pair24, data):
    bad_shape = tmp_path / "shape.npz"
    np.savez(bad_shape, audio_tokens=np.zeros((225, 8), np.int64))
    with pytest.raises(CodeFileError, match="expected"):
        read_codes(bad_shape)
    out_of_range = tmp_path / "range.npz"
    np.savez(out_of_range, audio_tokens=np.full((1, 10, 8), 1024, np.int64))
    with pytest.raises(CodeFileError, match="outside"):
        read_codes(out_of_range)
    empty = tmp_path / "empty.ecdc"
    empty.write_bytes(b"")
    with pytest.raises(CodeFileError, match="empty"):
        read_codes(empty)
    _, ours = pair24
    codes, _ = encode_audio(ours, load_audio(data / "jfk.flac", 24000), 6.0)
    good = tmp_path / "good.ecdc"
    write_ecdc(good, CodeFile(codes, "encodec_24khz", 11 * 24000))
    truncated = tmp_path / "truncated.ecdc"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CodeFileError, match="truncated"):
        read_codes(truncated)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not numpy at all")
    with pytest.raises(CodeFileError):
        read_codes(junk)


def test_cli_encode_decode_stats_and_clear_errors(pair24, data, tmp_path, monkeypatch, capsys):
    from studio.cli.main import main

    ref, _ = pair24
    th = tmp_path / "codec.th"
    torch.save(ref.state_dict(), th)
    ecdc, wav = tmp_path / "jfk.ecdc", tmp_path / "jfk-k2.wav"
    assert main(["codec", "encode", str(data / "jfk.flac"), str(ecdc), "--bandwidth", "3", "--model", str(th)]) == 0
    assert read_ecdc(ecdc).codes.shape == (4, 825)
    assert main(["codec", "decode", str(ecdc), str(wav), "--codebooks", "2", "--model", str(th)]) == 0
    import soundfile as sf

    assert abs(sf.info(wav).duration - 11.0) < 0.01
    assert main(["codec", "stats", str(data / "jfk.flac"), "--model", str(th)]) == 0
    out = capsys.readouterr().out
    assert "SI-SNR" in out and len([line for line in out.splitlines() if line.strip().startswith(("1 ", "8 "))]) == 2
    with pytest.raises(SystemExit) as exit_info:  # refused by argparse, before any work
        main(["codec", "encode", str(data / "jfk.flac"), str(ecdc), "--bandwidth", "5", "--model", str(th)])
    assert exit_info.value.code == 2 and "'5' is not an offered bandwidth" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert main(["codec", "stats", str(data / "jfk.flac")]) == 2
    assert "not on this computer" in capsys.readouterr().err


def test_long_audio_is_coded_in_pieces_that_agree_with_one_pass(data):
    ours = fitted_codec(data)
    jfk = load_audio(data / "jfk.flac", 24000)
    wav = np.tile(jfk, 14)[: 150 * 24000]  # 2.5 minutes: three pieces
    pieces, _ = encode_audio(ours, wav, 1.5)
    with torch.inference_mode():
        whole, _ = ours.encode(torch.from_numpy(wav)[None, None], 1.5)
    assert pieces.shape == tuple(whole.shape[1:]) == (2, 11250)
    assert len(np.unique(pieces[0])) > 50  # codes follow the audio
    assert (pieces == whole[0].numpy()).mean() > 0.98  # only frames just after a piece boundary may differ
    audio = decode_codes(ours, pieces, None, len(wav))
    assert audio.shape == (1, len(wav))


def test_hugging_face_layout_matches_transformers_encodec(data):
    """The HF loader on the real transformers EncodecModel (24 kHz): same codes, same audio. (Its 48 kHz model
    pads the last chunk, unlike the original release, which is the reference above.)"""
    transformers = pytest.importorskip("transformers")
    from studio.hub.encodec_weights import config_from_hf, from_hf

    torch.manual_seed(0)
    cfg = transformers.EncodecConfig()
    hf = transformers.EncodecModel(cfg).eval()
    other = torch.from_numpy(load_audio(data / "vallex-en-1.wav", 24000))[None, None]
    layers = hf.quantizer.layers
    fit_codebooks(hf.encoder, layers, [layer.codebook.embed for layer in layers], other)
    ours = build_model(config_from_hf(cfg.to_dict()), from_hf(hf.state_dict()))
    wav = torch.from_numpy(load_audio(data / "jfk.flac", 24000))[None, None]
    with torch.no_grad():
        out = hf.encode(wav, bandwidth=6.0)
        codes, scales = ours.encode(wav, 6.0)
        theirs = torch.cat(list(out.audio_codes), dim=-1)
        assert_same_codes(codes, theirs)
        audio = hf.decode(out.audio_codes, out.audio_scales)[0][..., : wav.shape[-1]]
        assert (ours.decode(theirs, scales, wav.shape[-1]) - audio).abs().max() < 1e-4
