"""Whisper's log-mel frontend, exactly (16 kHz, n_fft 400, hop 160, Slaney mel filters, log10, max-8 clamp,
(x + 4) / 4), and the Slaney filterbank it needs, computed here instead of shipped as a data file.

`log_mel_spectrogram` is the one function the transcriber reuses. torch is imported inside functions so that
importing this module stays cheap for the UI.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's auditory-toolbox scale: linear below 1 kHz, logarithmic above (librosa htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    mels = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=16)
def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = 80,
                fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 Slaney-normalized triangular filters, as librosa.filters.mel builds."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights.setflags(write=False)
    return weights.astype(np.float32)


def mel_frequencies(n_mels: int, fmax: float = SAMPLE_RATE / 2) -> np.ndarray:
    """Centre frequency in Hz of each mel band, for axis labels."""
    return _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(fmax), n_mels + 2))[1:-1]


def log_mel_spectrogram(audio: np.ndarray | torch.Tensor, n_mels: int = 80, padding: int = 0,
                        device: str | torch.device | None = None) -> torch.Tensor:
    """(n_mels, n_frames) Whisper log-mel of 16 kHz mono audio; n_frames = len(audio) // 160 (+ padding)."""
    import torch

    x = torch.as_tensor(audio, dtype=torch.float32) if not torch.is_tensor(audio) else audio
    if device is not None:
        x = x.to(device)
    if padding > 0:
        x = torch.nn.functional.pad(x, (0, padding))
    x = torch.nn.functional.pad(x[None, None], (N_FFT // 2, N_FFT // 2), mode="reflect")[0, 0]
    return normalize_log_mel(log10_mel_frames(x, n_mels)[:, :-1])


def log_mel_frames(x: torch.Tensor, n_mels: int = 80, max_value: float | None = None) -> torch.Tensor:
    """Whisper log-mel of frames starting at sample 0, 160 apart, 400 long (no centring): x holds the 200
    samples of context before the first frame centre and after the last. The floor is `max_value` - 8 (Whisper
    uses the maximum of the whole file) or, when None, this array's own maximum - 8."""
    return normalize_log_mel(log10_mel_frames(x, n_mels), max_value)


def normalize_log_mel(log_spec: torch.Tensor, max_value: float | None = None) -> torch.Tensor:
    """Whisper's scaling: floor at (max - 8), then (x + 4) / 4."""
    import torch

    top = log_spec.max() if max_value is None else torch.tensor(max_value)
    return (torch.maximum(log_spec, top - 8.0) + 4.0) / 4.0


def log10_mel_frames(x: torch.Tensor, n_mels: int = 80) -> torch.Tensor:
    """log10 of the mel power of each frame (floored at 1e-10), before Whisper's clamp and scaling."""
    import torch

    window = torch.hann_window(N_FFT, device=x.device)
    stft = torch.stft(x, N_FFT, HOP_LENGTH, window=window, center=False, return_complex=True)
    magnitudes = stft.abs() ** 2
    filters = torch.from_numpy(mel_filters(SAMPLE_RATE, N_FFT, n_mels)).to(x.device)
    return torch.clamp(filters @ magnitudes, min=1e-10).log10()
