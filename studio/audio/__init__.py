"""Audio I/O, features and recording. Pure numpy/soundfile at import time; torch only inside functions."""

from studio.audio.io import AudioError, AudioInfo, iter_blocks, load_audio, probe, resample

__all__ = ["AudioError", "AudioInfo", "iter_blocks", "load_audio", "probe", "resample"]
