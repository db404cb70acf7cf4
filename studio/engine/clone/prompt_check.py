"""Checking a voice prompt before enrollment: mixed to mono, 24 kHz, DC removed, silence trimmed, pauses, noise
and level.

VALL-E X continues the prompt: whatever the prompt holds (room tone, hiss, long pauses, clipping) comes back in
the cloned speech, so each is measured and named here. Speech is found with the studio's Silero VAD.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.errors import StudioError

SAMPLE_RATE = 24000  # EnCodec 24 kHz, the codec VALL-E X was trained on
VAD_RATE = 16000
MIN_SPEECH_S = 2.0  # below this the voice is not captured at all: refused
MAX_SPEECH_S = 15.0  # VALL-E X's own make_prompt refuses longer prompts; training clips were at most ~22 s in all
BEST_S = (3.0, 10.0)  # the sweet spot; outside it a warning
MAX_INPUT_S = 120.0  # longer files are refused from their header, before decoding (a prompt is seconds, not hours)
PAUSE_S = 0.7  # longer gaps are flagged: the model copies long pauses into what it says
EDGE_S = 0.15  # kept before the first and after the last speech: onsets and decays the VAD's 32 ms grid cuts
FRAME = 768  # 32 ms at 24 kHz, the VAD's chunk, for level statistics
DB_FLOOR = -120.0
DIGITAL_SILENCE_DB = -100.0  # below one 16-bit step: padding or a gate, which says nothing about the room
CLIP_LEVEL = 0.999  # |x| at full scale (int16's 32767/32768 is 0.99997)
CLIP_RUN = 3  # consecutive full-scale samples: a flat top; one such sample can be a legitimate peak
QUIET_PEAK_DB = -20.0
MIN_AUDIO_S = 0.5  # a decoded file shorter than this is cut off or damaged: said before the VAD finds nothing
SILENT_CHANNEL_DB = 30.0  # a channel this far below the loudest is an unplugged mic: left out of the mix
CANCEL_DB = 20.0  # a mix this far below its channels means they cancel (one inverted): the louder one is used

# The rating compares the noise floor with the speech level (SNR), because that is what is heard once the voice is
# played at a normal level: at 40 dB or more the noise is inaudible even in pauses (a quiet room, a close mic); from
# 25 to 40 dB room tone or hiss is heard in the pauses and VALL-E X reproduces it; below 25 dB it is heard under the
# speech itself, and EnCodec at 6 kbps spends its few bits on it.
CLEAN_SNR_DB = 40.0
NOISY_SNR_DB = 25.0


@dataclass
class PromptCheck:
    samples: np.ndarray  # float32 mono at `sample_rate`, trimmed
    sample_rate: int
    duration: float  # seconds after trimming
    original_duration: float
    channels: int
    trimmed: tuple[float, float]  # seconds cut at the start and at the end
    pauses: list[tuple[float, float]]  # (start, end) in seconds of the trimmed prompt, each longer than PAUSE_S
    noise_floor_db: float  # dBFS (RMS, 0 dB = full-scale square wave) of the parts without speech
    noise_rating: str  # "clean", "audible" or "noisy"
    peak_db: float  # dBFS of the largest sample in any channel
    clipped: bool
    speech_db: float = DB_FLOOR  # RMS level of the speech, dBFS
    snr_db: float = 0.0  # speech_db - noise_floor_db
    warnings: list[str] = field(default_factory=list)
    channel_note: str = ""  # how the channels became mono when it was not their average


def seconds_text(value: float, low: float, high: float) -> str:
    """`value` seconds with one decimal, rounded away from [low, high] when outside it, so that 15.04 s against a
    15 s limit reads "15.1 s", never "15.0 s"."""
    if value > high:
        return f"{math.ceil(round(value * 10, 6)) / 10:.1f}"
    if value < low:
        return f"{math.floor(round(value * 10, 6)) / 10:.1f}"
    return f"{value:.1f}"


def _db(power: float | np.ndarray) -> np.ndarray:
    return np.maximum(10 * np.log10(np.maximum(power, 1e-30)), DB_FLOOR)


@dataclass
class _Input:
    mono: np.ndarray  # float32 at `rate`: the channels' mean (or the channels kept, see `_choose`), DC removed
    rate: int
    channels: int
    peak: float  # largest |sample| in any channel
    clipped: bool
    what: str  # a name for messages
    channel_note: str = ""


class _Stats:
    """Per-channel sums and the channels' cross products, summed block by block: the level of any mix of the
    channels follows from them, so the channels to keep are chosen without holding the file."""

    def __init__(self, channels: int) -> None:
        self.n = 0
        self.sums = np.zeros(channels)
        self.gram = np.zeros((channels, channels))
        self.peak, self.clipped = 0.0, False

    def add(self, block: np.ndarray) -> None:  # (channels, samples)
        b = block.astype(np.float64)
        self.n += b.shape[1]
        self.sums += b.sum(axis=1)
        self.gram += b @ b.T
        self.peak, self.clipped = max(self.peak, _peak(block)), self.clipped or _clipped(block)

    def covariance(self) -> np.ndarray:
        """Without each channel's DC offset: an offset is no signal, and would hide a silent channel."""
        mean = self.sums / max(self.n, 1)
        return self.gram / max(self.n, 1) - np.outer(mean, mean)


def _choose(cov: np.ndarray) -> tuple[list[int] | None, str]:
    """The channels to average (None: all of them) and a note for the user when not all. A silent channel halves
    the level of the average; channels in antiphase cancel in it, leaving no speech at all."""
    channels = cov.shape[0]
    power = np.diag(cov)
    loud = float(power.max()) if channels > 1 else 0.0
    if loud <= 0:
        return None, ""
    keep = [i for i in range(channels) if power[i] * 10 ** (SILENT_CHANNEL_DB / 10) >= loud]
    note = ""
    if len(keep) < channels:
        quiet = channels - len(keep)
        note = ("one channel is silent: used the other" if channels == 2 else
                f"{quiet} of {channels} channels are silent: used " +
                (f"channel {keep[0] + 1}" if len(keep) == 1 else "the average of the others"))
    mix = float(cov[np.ix_(keep, keep)].sum()) / len(keep) ** 2
    if len(keep) > 1 and mix * 10 ** (CANCEL_DB / 10) <= float(power[keep].mean()):
        keep = [int(np.argmax(power))]
        note = "the channels cancel out when averaged (one is inverted): used the louder one"
    return (None if len(keep) == channels else keep), note


def _read(source: str | os.PathLike | np.ndarray, sample_rate: int | None) -> _Input:
    """The source mixed down at its own rate, its DC offset removed; peak and clipping are measured per channel
    first (a clipped channel can hide in the mean). Files are taken block by block, so a 48 kHz 8-channel file is
    never held whole; they are read a second time only when some channels are left out of the mix."""
    if isinstance(source, np.ndarray):
        if sample_rate is None or sample_rate <= 0:
            raise ValueError("check_prompt needs the sample rate of samples given as an array")
        x = np.asarray(source, np.float32)
        if x.ndim == 1:
            x = x[None]
        elif x.ndim == 2:
            x = x if x.shape[0] <= x.shape[1] else x.T  # a prompt has far more samples than channels
        else:
            raise StudioError(f"The prompt samples have {x.ndim} dimensions; expected (samples,) or "
                              "(samples, channels).", "Pass mono or multichannel audio samples.")
        if x.shape[1] / sample_rate > MAX_INPUT_S:
            raise _too_long_input("The recording", x.shape[1] / sample_rate)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        stats = _Stats(x.shape[0])
        stats.add(x)
        keep, note = _choose(stats.covariance())
        return _Input(_dc_free(_mix(x, keep)), sample_rate, x.shape[0], stats.peak, stats.clipped,
                      "the recording", note)
    from studio.audio.io import AudioError

    try:
        return _read_file(Path(source))
    except AudioError as e:
        raise _plain(e) from None


def _read_file(path: Path) -> _Input:
    from studio.audio.io import iter_blocks, probe

    info = probe(path)
    if info.duration > MAX_INPUT_S:
        raise _too_long_input(f"'{info.path.name}'", info.duration)
    parts, stats = [], _Stats(info.channels)
    for block in iter_blocks(info.path, None, mono=False):  # (channels, samples)
        parts.append(_mix(block, None))
        stats.add(block)
    keep, note = _choose(stats.covariance())
    if keep is not None:
        parts = [_mix(block, keep) for block in iter_blocks(info.path, None, mono=False)]
    mono = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return _Input(_dc_free(mono), info.sample_rate, info.channels, stats.peak, stats.clipped, f"'{path.name}'",
                  note)


def _plain(e: StudioError) -> StudioError:
    """libsndfile's own words ("No 'data' chunk marker") mean nothing to the user: the file is damaged or is not
    audio, which is all they can act on."""
    if any(f in e.message for f in ("readable audio file (", "reading stopped (", "valid MP3/audio file (")):
        name = e.message.split("' ", 1)[0] + "'"
        return StudioError(f"{name} is not a readable audio file: it is damaged, or not audio.",
                           "Record again, or convert the file to WAV or FLAC (e.g. with ffmpeg).")
    return e


def _mix(x: np.ndarray, keep: list[int] | None) -> np.ndarray:
    """The mean of the channels `keep` (None: all: a mic on one side must not be lost)."""
    return (x if keep is None else x[keep]).mean(axis=0, dtype=np.float32)


def _dc_free(x: np.ndarray) -> np.ndarray:
    """Without its DC offset, which would read as loud background noise and go into the prompt's codes."""
    return (x - np.float32(x.mean(dtype=np.float64))).astype(np.float32) if x.size else x


def _peak(x: np.ndarray) -> float:
    return float(np.abs(x).max()) if x.size else 0.0


def _too_long_input(what: str, seconds: float) -> StudioError:
    return StudioError(f"{what} is {seconds:.0f} s long; a voice prompt is 3–10 s of one person speaking "
                       f"(at most {MAX_SPEECH_S:.0f} s).", "Cut out the part you want as the voice and use that.")


def _speech(x16: np.ndarray, check: Callable[[], None] | None) -> list[tuple[int, int]]:
    """Speech regions in 16 kHz samples, unpadded, split at gaps of 0.3 s or more."""
    from studio.engine.asr.options import VadOptions
    from studio.engine.asr.vad import speech_probabilities, speech_regions

    probs = speech_probabilities([x16], check)
    return speech_regions(probs, len(x16), VadOptions(min_speech_s=0.1, min_silence_s=0.3, pad_s=0.0))


def _clipped(x: np.ndarray) -> bool:
    full = np.abs(x) >= CLIP_LEVEL
    run = full[:, : full.shape[1] - CLIP_RUN + 1].copy()
    for k in range(1, CLIP_RUN):
        run &= full[:, k: full.shape[1] - CLIP_RUN + 1 + k]
    return bool(run.any())


def _levels(x24: np.ndarray, regions: list[tuple[int, int]]) -> tuple[float, float]:
    """(noise floor, speech level) in dBFS. The floor is the median frame level away from speech (0.1 s around it
    left out: onsets and decays), or of the quietest tenth of the frames when the VAD left no gaps."""
    n = len(x24) // FRAME
    power = np.square(x24[: n * FRAME].reshape(n, FRAME), dtype=np.float64).mean(axis=1)
    near = np.zeros(n, bool)
    speech = np.zeros(len(x24), bool)
    margin = int(0.1 * SAMPLE_RATE)
    for s, e in regions:
        near[max(0, (s - margin) // FRAME): (e + margin) // FRAME + 1] = True
        speech[s:e] = True
    levels = _db(power)
    live = levels > DIGITAL_SILENCE_DB
    quiet = levels[~near & live]
    if len(quiet) >= 8:  # a quarter second of room tone
        floor = float(np.median(quiet))
    elif live.any():
        floor = float(np.percentile(levels[live], 10))
    else:
        floor = DB_FLOOR
    speech_db = float(_db(np.mean(np.square(x24[speech], dtype=np.float64)))) if speech.any() else DB_FLOOR
    return floor, speech_db


def check_prompt(source: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                 check: Callable[[], None] | None = None) -> PromptCheck:
    """Read and measure a voice prompt. `source`: an audio file, or samples (samples,) / (samples, channels) at
    `sample_rate`. Raises StudioError for a prompt without speech, or with under 2 s or over 15 s of it after
    trimming; everything else that would hurt the clone is a warning."""
    from studio.audio.io import resample

    source_in = _read(source, sample_rate)
    what, channels, original = source_in.what, source_in.channels, len(source_in.mono) / source_in.rate
    subject = what[0].upper() + what[1:]  # the name, to start a sentence
    if original < MIN_AUDIO_S:  # the VAD would only say "no speech"
        raise StudioError(f"{subject} holds only {original:.2f} s of audio: the file is too short, or damaged (cut "
                          "off while it was written).", "Record or pick 3–10 s of one person speaking.")
    x24 = resample(source_in.mono, source_in.rate, SAMPLE_RATE)
    regions16 = _speech(resample(source_in.mono, source_in.rate, VAD_RATE), check)
    if not regions16:
        raise StudioError(f"No speech was found in {what}.", "Record or pick 3–10 s of one person speaking.")
    regions = [(s * SAMPLE_RATE // VAD_RATE, e * SAMPLE_RATE // VAD_RATE) for s, e in regions16]
    edge = int(EDGE_S * SAMPLE_RATE)
    start, end = max(0, regions[0][0] - edge), min(len(x24), regions[-1][1] + edge)
    duration = (end - start) / SAMPLE_RATE
    said = seconds_text(duration, MIN_SPEECH_S, MAX_SPEECH_S)
    if duration < MIN_SPEECH_S:
        raise StudioError(f"{subject} holds {said} s of speech after trimming silence; a voice prompt needs at least "
                          f"{MIN_SPEECH_S:.0f} s.",
                          "Record or pick 3–10 s of one person speaking: VALL-E X needs that much of the voice "
                          "to copy it.")
    if duration > MAX_SPEECH_S:
        raise StudioError(f"{subject} holds {said} s of speech after trimming silence; a voice prompt can be at most "
                          f"{MAX_SPEECH_S:.0f} s.",
                          "Cut it to 3–10 s: VALL-E X was trained on clips of at most about 22 s, prompt and new "
                          "speech together, so a longer prompt leaves no room for the text.")
    pauses = [((e0 - start) / SAMPLE_RATE, (s1 - start) / SAMPLE_RATE)
              for (_, e0), (s1, _) in zip(regions, regions[1:], strict=False)
              if (s1 - e0) / SAMPLE_RATE > PAUSE_S]
    floor, speech_db = _levels(x24, regions)
    snr = speech_db - floor
    rating = "clean" if snr >= CLEAN_SNR_DB else "audible" if snr >= NOISY_SNR_DB else "noisy"
    result = PromptCheck(
        samples=np.ascontiguousarray(x24[start:end]), sample_rate=SAMPLE_RATE, duration=duration,
        original_duration=original, channels=channels,
        trimmed=(start / SAMPLE_RATE, max(0.0, len(x24) / SAMPLE_RATE - end / SAMPLE_RATE)), pauses=pauses,
        noise_floor_db=floor, noise_rating=rating, peak_db=float(_db(source_in.peak ** 2)), clipped=source_in.clipped,
        speech_db=speech_db, snr_db=snr, channel_note=source_in.channel_note)
    result.warnings = _warnings(result)
    return result


def _warnings(c: PromptCheck) -> list[str]:
    out = []
    if c.channel_note:
        out.append(f"{c.channel_note[0].upper()}{c.channel_note[1:]}.")
    if not BEST_S[0] <= c.duration <= BEST_S[1]:
        side = ("short: the voice is captured less well" if c.duration < BEST_S[0]
                else "long: it leaves less room for the new speech")
        out.append(f"The prompt is {seconds_text(c.duration, *BEST_S)} s of speech; {BEST_S[0]:.0f}–{BEST_S[1]:.0f} s "
                   f"works best (this is {side}).")
    if c.pauses:
        spans = ", ".join(f"{s:.1f}–{e:.1f} s" for s, e in c.pauses)
        out.append(f"{len(c.pauses)} pause{'s' if len(c.pauses) > 1 else ''} longer than {PAUSE_S} s ({spans}): "
                   "the clone copies long pauses; cut them or record again.")
    if c.noise_rating == "noisy":
        out.append(f"Background noise at {c.noise_floor_db:.0f} dBFS is only {c.snr_db:.0f} dB below the speech: it "
                   "is heard under the voice and the clone will carry it. A quieter room or a closer mic helps.")
    elif c.noise_rating == "audible":
        out.append(f"Background noise at {c.noise_floor_db:.0f} dBFS ({c.snr_db:.0f} dB below the speech) is audible "
                   "in the pauses; the clone will carry it. A quieter room or a closer mic helps.")
    if c.clipped:
        peak = round(c.peak_db, 1) + 0.0  # not "-0.0"
        out.append(f"The recording is clipped (peak {peak:.1f} dBFS, flat tops at full scale): the "
                   "distortion will be cloned too. Record again with a lower input level.")
    elif c.peak_db < QUIET_PEAK_DB:
        out.append(f"The recording is quiet (peak {c.peak_db:.0f} dBFS); raise the input level for a cleaner "
                   "prompt.")
    return out
