"""The codec over long files: streamed in blocks with the same codes, audio and statistics as one pass over the whole
file, progress per block, cancel between blocks, outputs checked first and written atomically."""

import hashlib
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from studio.audio.io import iter_blocks, load_audio, resample
from studio.audio.mel import log10_mel_frames
from studio.engine.codec import analysis, stream
from studio.engine.codec.analysis import analyze, decode_codes, decode_to_file, encode_audio
from studio.engine.codec.files import CodeFile, read_ecdc, write_codes
from studio.errors import JobCancelled

pytest.importorskip("encodec")
from test_codec import DATA, fitted_codec, random_pair  # noqa: E402


@pytest.fixture(scope="module")
def codec24():
    return fitted_codec(DATA)


@pytest.fixture(scope="module")
def codec48():
    return random_pair(48)[1]


@pytest.fixture(scope="module")
def th24(tmp_path_factory):
    ref, _ = random_pair(24)
    path = tmp_path_factory.mktemp("codec") / "encodec_24khz-random.th"
    torch.save(ref.state_dict(), path)
    return path


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- one pass over the whole file, as analyze computed it before it streamed: the reference ---

def one_pass_si_snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    ref = reference - reference.mean()
    est = estimate - estimate.mean()
    target = (est @ ref) / max(ref @ ref, 1e-12) * ref
    noise = est - target
    return float(10 * np.log10(max(target @ target, 1e-12) / max(noise @ noise, 1e-12)))


def one_pass_mel_distance(reference: np.ndarray, estimate: np.ndarray, rate: int) -> float:
    def logmel(x):
        x16 = resample(x.astype(np.float32), rate, 16000)
        x16 = np.pad(x16, (200, 200), mode="reflect") if len(x16) > 400 else np.zeros(401)
        return log10_mel_frames(torch.from_numpy(x16.astype(np.float32)))

    return float((logmel(reference) - logmel(estimate)).abs().mean())


def one_pass(model, wav: np.ndarray, bandwidth: float, n: int):
    """Codes, scales and per-k (SI-SNR, mel distance, residual energy) on the first n samples, all in one go."""
    x = torch.from_numpy(wav)[None]
    with torch.inference_mode():
        codes, scales = model.encode(x, bandwidth)
        energies = [math.nan] * codes.shape[1]
        if model.cfg.segment is None:
            z = model.encoder(x)[..., : -(-n // model.cfg.hop_length)]
            energies = (model.quantizer.stage_residuals(z, codes[..., : z.shape[-1]]) / z.pow(2).mean()).tolist()
        ref = wav[:, :n].mean(0)
        stages = []
        for k in range(1, codes.shape[1] + 1):
            rec = model.decode(codes[:, :k], scales, wav.shape[-1])[0].numpy().mean(0)[:n]
            stages.append((one_pass_si_snr(ref, rec), one_pass_mel_distance(ref, rec, model.cfg.sample_rate),
                           energies[k - 1]))
    return codes[0].numpy(), None if scales is None else scales[0].tolist(), stages


def assert_same_stages(result, stages) -> None:
    assert len(result.stages) == len(stages)
    for got, (snr, mel, energy) in zip(result.stages, stages, strict=True):
        assert got.si_snr_db == pytest.approx(snr, rel=1e-4)
        assert got.mel_distance == pytest.approx(mel, rel=1e-4)
        assert got.residual_energy == pytest.approx(energy, rel=1e-4, nan_ok=True)


@pytest.mark.parametrize("seconds, stats_seconds, bandwidth", [(11.0, 30.0, 6.0), (5.0, 2.3, 3.0)])
def test_streamed_analysis_equals_one_pass_over_the_file_24khz(codec24, tmp_path, seconds, stats_seconds, bandwidth):
    path = tmp_path / "speech.wav"
    sf.write(path, load_audio(DATA / "jfk.flac", 16000)[: int(seconds * 16000)], 16000, subtype="FLOAT")
    wav = load_audio(path, 24000)[None]
    n = min(wav.shape[-1], int(stats_seconds * 24000))
    codes, _, stages = one_pass(codec24, wav, bandwidth, n)
    result = analyze(codec24, path, bandwidth, stats_seconds=stats_seconds, block_seconds=0.7)  # 0.7 s blocks
    assert np.array_equal(result.codes, codes) and result.codes.dtype == np.int64
    assert len(np.unique(codes[0])) > 30  # the codes follow the audio
    assert result.audio_length == wav.shape[-1] and result.scales is None
    assert [c.used_codes for c in result.codebooks] == [len(np.unique(row)) for row in codes]
    assert [c.entropy_bits for c in result.codebooks] == [c.entropy_bits for c in
                                                           analysis.codebook_stats(codes, 75)]
    assert_same_stages(result, stages)


def test_streamed_analysis_equals_one_pass_over_the_file_48khz_stereo(codec48, tmp_path):
    """(Before, analysis of any 48 kHz file longer than about 1 s failed in the decoder.)"""
    jfk = load_audio(DATA / "jfk.flac", 48000)[: int(3.3 * 48000)]
    wav = np.stack([jfk, 0.6 * np.roll(jfk, 300)])
    path = tmp_path / "stereo.wav"
    sf.write(path, wav.T, 48000, subtype="FLOAT")
    codes, scales, stages = one_pass(codec48, wav, 6.0, int(2.5 * 48000))
    result = analyze(codec48, path, 6.0, stats_seconds=2.5, block_seconds=0.4)
    assert np.array_equal(result.codes, codes) and result.scales == scales and len(scales) == 4
    assert_same_stages(result, stages)


def speech(seconds: float, rate: int = 24000) -> np.ndarray:
    """Seconds of tests/data speech one after another (no piece repeats)."""
    names = ["jfk.flac", "vallex-en-1.wav", "vallex-ja-1.wav", "vallex-zh-1.wav", "encodec-test_24k.wav"]
    return np.concatenate([load_audio(DATA / name, rate) for name in names])[: int(seconds * rate)]


def test_streamed_codes_and_audio_equal_one_pass_on_40_s_of_speech(codec24):
    wav = speech(40.0)
    assert len(wav) == 40 * 24000
    codes, _ = encode_audio(codec24, wav, 6.0)  # 3 s blocks: 13 seams
    with torch.inference_mode():
        whole, _ = codec24.encode(torch.from_numpy(wav)[None, None], 6.0)
        whole_audio = codec24.decode(whole, None, len(wav))[0].numpy()
    agreement = (codes == whole[0].numpy()).mean()
    print(f"codes equal to one pass over 40 s of speech: {100 * agreement:.3f} %")
    assert agreement >= 0.999
    audio = decode_codes(codec24, whole[0].numpy(), None, len(wav))
    assert audio.shape == whole_audio.shape and np.abs(audio - whole_audio).max() < 1e-5 * np.abs(whole_audio).max()


def test_the_encoder_never_sees_more_than_a_block(codec24, monkeypatch):
    seen = []
    real = stream._CausalStream.__call__

    def spy(self, x, last=False):
        seen.append(x.shape[-1])
        return real(self, x, last)

    monkeypatch.setattr(stream._CausalStream, "__call__", spy)
    monkeypatch.setattr(codec24.encoder, "forward", lambda x: pytest.fail("the whole file went through at once"))
    analyze(codec24, DATA / "jfk.flac", 1.5, stats_seconds=1.0, block_seconds=2.0)
    hop = codec24.cfg.hop_length
    assert max(seen) <= 2 * 24000 // hop * hop and len(seen) > 5  # encoder blocks (and the decoders' frames)


def test_progress_moves_per_block_and_cancel_stops_between_blocks(codec24):
    fractions = []
    analyze(codec24, DATA / "jfk.flac", 1.5, progress=lambda f, m: fractions.append(f), stats_seconds=1.0,
            block_seconds=1.0)
    moving = [f for f in fractions if 0 < f < 1]
    assert len(set(moving)) >= 10 and moving == sorted(moving) and fractions[-1] == 1.0

    blocks = []

    def check():
        blocks.append(1)
        if len(blocks) > 3:
            raise JobCancelled()

    with pytest.raises(JobCancelled):
        analyze(codec24, DATA / "jfk.flac", 1.5, check=check, block_seconds=1.0)
    assert len(blocks) == 4  # it stopped at the first check after the cancel, not at the end of the file


def test_cancelled_decode_leaves_no_file_and_keeps_an_older_one(codec24, tmp_path):
    wav = load_audio(DATA / "jfk.flac", 24000)
    codes, _ = encode_audio(codec24, wav, 3.0)
    out = tmp_path / "out.wav"
    out.write_bytes(b"an older file the user keeps")
    before = sha(out)
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 2:
            raise JobCancelled()

    with pytest.raises(JobCancelled):
        decode_to_file(codec24, codes, None, len(wav), out, check=check)
    assert sha(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    fractions = []
    n = decode_to_file(codec24, codes, None, len(wav), out, 2, progress=lambda f, m: fractions.append(f))
    assert n == len(wav) and sf.info(out).frames == len(wav) and len(set(fractions)) >= 3


def test_iter_blocks_reads_every_channel_of_a_stereo_file_in_blocks(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, (44100 * 2, 2)).astype(np.float32)
    sf.write(tmp_path / "st.wav", x, 44100, subtype="FLOAT")
    blocks = list(iter_blocks(tmp_path / "st.wav", 48000, block_seconds=0.3, mono=False))
    assert len(blocks) == 7 and all(b.shape[0] == 2 for b in blocks)
    got = np.concatenate(blocks, axis=1)
    for c in range(2):
        assert np.abs(got[c] - resample(x[:, c], 44100, 48000)).max() < 1e-5


# --- studio codec: options, outputs ---

@pytest.fixture
def cli(monkeypatch, tmp_path):
    from studio.cli.main import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may reach the network (or get that far)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return main


@pytest.fixture
def ecdc(th24, tmp_path):
    from studio.hub.encodec_weights import load_encodec

    model = load_encodec(th24)
    wav = load_audio(DATA / "jfk.flac", 24000)
    codes, _ = encode_audio(model, wav, 6.0)
    path = tmp_path / "jfk.ecdc"
    write_codes(path, CodeFile(codes, "encodec_24khz", len(wav)))
    return path


@pytest.mark.parametrize("name", ["out.mp3", "out.txt", "out", "jfk.ecdc"])
def test_decode_refuses_outputs_it_cannot_or_must_not_write_before_any_work(cli, ecdc, capsys, name):
    before = sha(ecdc)
    out = ecdc.parent / name
    assert cli(["codec", "decode", str(ecdc), str(out)]) == 2  # before the (missing) default codec is looked for
    err = capsys.readouterr().err
    assert ("is the input file" if name == "jfk.ecdc" else "Voice Studio writes .wav, .flac, .ogg here") in err
    assert "not on this computer" not in err and "Traceback" not in err
    assert sha(ecdc) == before and sorted(p.name for p in ecdc.parent.iterdir() if p.name != "hf") == ["jfk.ecdc"]


@pytest.mark.parametrize("name", ["in.wav", "out.wav", "out.txt", "missing/out.ecdc"])
def test_encode_refuses_bad_outputs_and_never_touches_the_input(cli, tmp_path, capsys, name):
    src = tmp_path / "in.wav"
    sf.write(src, load_audio(DATA / "jfk.flac", 16000)[:16000], 16000)
    before = sha(src)
    assert cli(["codec", "encode", str(src), str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    expected = {"in.wav": "is the input file", "out.wav": "writes .ecdc, .npz here", "out.txt": "writes .ecdc, .npz",
                "missing/out.ecdc": "does not exist"}[name]
    assert expected in err and "not on this computer" not in err
    assert sha(src) == before and sorted(p.name for p in tmp_path.iterdir() if p.name != "hf") == ["in.wav"]


@pytest.mark.parametrize("args, message", [
    (["decode", "x.ecdc", "y.wav", "--codebooks", "0"], "argument --codebooks/-k: 0 is out of range"),
    (["decode", "x.ecdc", "y.wav", "-k", "-3"], "out of range: use an integer from 1 to 32"),
    (["decode", "x.ecdc", "y.wav", "-k", "two"], "'two' is not an integer"),
    (["encode", "x.wav", "y.ecdc", "--bandwidth", "5"], "'5' is not an offered bandwidth: use one of 1.5, 3, 6"),
    (["stats", "x.wav", "-b", "nan"], "'nan' is not an offered bandwidth"),
    (["stats", "x.wav", "-b", "-6"], "'-6' is not an offered bandwidth"),
])
def test_options_out_of_range_exit_2_with_the_allowed_values(cli, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        cli(["codec", *args])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_decode_writes_wav_flac_ogg_and_refuses_more_codebooks_than_the_file_has(cli, ecdc, th24, capsys):
    for suffix in (".wav", ".flac", ".ogg"):
        out = ecdc.with_name("jfk-k2" + suffix)
        assert cli(["codec", "decode", str(ecdc), str(out), "-k", "2", "--model", str(th24)]) == 0
        info = sf.info(out)
        assert info.samplerate == 24000 and abs(info.duration - 11.0) < 0.01
    assert cli(["codec", "decode", str(ecdc), str(ecdc.with_name("k9.wav")), "-k", "9", "--model", str(th24)]) == 2
    assert "holds 8 codebooks" in capsys.readouterr().err and not ecdc.with_name("k9.wav").exists()
    read_ecdc(ecdc)


def test_interrupted_decode_keeps_the_old_output_and_leaves_no_partial_file(cli, ecdc, th24, monkeypatch):
    out = ecdc.with_name("out.wav")
    out.write_bytes(b"yesterday's decode")
    before = sha(out)
    real = analysis.iter_decode

    def interrupted(*a, **k):
        it = real(*a, **k)
        yield next(it)
        raise KeyboardInterrupt  # Ctrl-C in the middle of the file

    monkeypatch.setattr(analysis, "iter_decode", interrupted)
    assert cli(["codec", "decode", str(ecdc), str(out), "--model", str(th24)]) == 130
    assert sha(out) == before and sorted(p.name for p in ecdc.parent.iterdir() if p.name != "hf") == \
        ["jfk.ecdc", "out.wav"]


def test_decode_with_a_codec_of_the_other_rate_is_a_message(cli, ecdc, capsys, tmp_path):
    ref, _ = random_pair(48)
    th48 = tmp_path / "encodec_48khz-random.th"
    torch.save(ref.state_dict(), th48)
    assert cli(["codec", "decode", str(ecdc), str(tmp_path / "o.wav"), "--model", str(th48)]) == 2
    assert "holds encodec_24khz codes; the chosen codec runs at 48 kHz" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()
