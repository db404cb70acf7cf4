"""Listening to and saving the Speak view's takes (the view mixes this in; it owns the player, the history and
the buttons)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from studio.engine.clone.result import SAMPLE_RATE, Take
from studio.errors import StudioError
from studio.outputs import check_output, describe_os_error, unique_path
from studio.ui.take_history import joined, write_wav


class SpeakOutput:
    """Needs on the view: voice, player, settings, take_view, error/status signals, current_takes(),
    language_code, _out_dir, _wavs, _shown, _playing."""

    def joined_samples(self) -> np.ndarray:
        """The current takes in sentence order with the engine's pause between them."""
        takes = [t for t in self.current_takes() if t is not None]  # type: ignore[attr-defined]
        voice = self.voice  # type: ignore[attr-defined]
        return joined(takes, voice.audio_tokens.T, voice.name, self.language_code)  # type: ignore[attr-defined]

    def _wav_of(self, takes: list[Take]) -> str:
        """A playback copy (the player streams files), made once per set of takes."""
        key = tuple(id(t) for t in takes)
        wavs: dict[tuple[int, ...], str] = self._wavs  # type: ignore[attr-defined]
        if key not in wavs:
            path = str(self._out_dir / f"play-{len(wavs)}.wav")  # type: ignore[attr-defined]
            write_wav(path, takes[0].samples if len(takes) == 1 else self.joined_samples())
            wavs[key] = path
        return wavs[key]

    def _play(self, takes: list[Take], start: float = 0.0) -> None:
        try:
            self.player.play(self._wav_of(takes), start)  # type: ignore[attr-defined]
        except StudioError as e:
            self.error.emit(e.message, e.remedy)  # type: ignore[attr-defined]
            return
        self._playing = takes[0] if len(takes) == 1 else None

    def play_sentence(self, row: int) -> None:
        take = self.current_takes()[row] if 0 <= row < len(self.current_takes()) else None  # type: ignore
        if take is not None:
            self.sentences.select(row)  # type: ignore[attr-defined]
            self._play([take])

    def play_all(self) -> None:
        takes = [t for t in self.current_takes() if t is not None]  # type: ignore[attr-defined]
        if takes:
            self._play(takes)

    def toggle_play(self) -> None:
        """Space in the window: stop what plays, else play every current take."""
        if self.player.playing:  # type: ignore[attr-defined]
            self.stop()
        else:
            self.play_all()

    def stop(self) -> None:
        self.player.stop()  # type: ignore[attr-defined]
        self._playing = None
        self.take_view.set_playhead(None)  # type: ignore[attr-defined]

    def _seek_shown(self, seconds: float) -> None:
        if self._shown is not None:  # type: ignore[attr-defined]
            self._play([self._shown], seconds)  # type: ignore[attr-defined]

    def _tick(self) -> None:
        if self._playing is not None and self._playing is self._shown and self.player.playing:  # type: ignore
            self.take_view.set_playhead(self.player.position)  # type: ignore[attr-defined]

    def save_dialog(self) -> None:
        voice = self.voice  # type: ignore[attr-defined]
        if voice is None:
            return
        folder: Path = self.settings.recordings_folder  # type: ignore[attr-defined]
        name = f"{voice.name} - speech.wav"
        default = unique_path(folder / name) if folder.is_dir() else Path(name)
        path, _ = QFileDialog.getSaveFileName(self, "Save speech", str(default), "WAV audio (*.wav)")  # type: ignore
        if path:
            self.save_to(path)

    def _check_not_ours(self, path: Path) -> None:
        """Refuse to replace a file in the app's own folders: a recording there may be the only copy, and a voice
        file is a voice in the library."""
        if not path.exists():
            return
        folders = ((self.settings.recordings_folder, "a recording", "recordings"),  # type: ignore[attr-defined]
                   (self.settings.voices_folder, "a voice", "voices"))  # type: ignore[attr-defined]
        where = path.resolve()
        for folder, what, name in folders:
            if where.is_relative_to(Path(folder).resolve()):
                raise StudioError(f"'{path.name}' is {what} in Voice Studio's {name} folder: saving the speech "
                                  f"there would replace {what}.",
                                  "Choose a new file name; Save WAV never writes over recordings or voices.")

    def save_to(self, path: str) -> None:
        """The current takes joined, as a 24 kHz WAV (atomically; never over the voice file)."""
        takes = self.current_takes()  # type: ignore[attr-defined]
        voice = self.voice  # type: ignore[attr-defined]
        if voice is None or not any(t is not None for t in takes):
            self.error.emit("There is nothing to save yet.", "Press Synthesize first.")  # type: ignore[attr-defined]
            return
        try:
            check_output(path, [voice.path] if voice.path else [], [".wav"])
            self._check_not_ours(Path(path))
            samples = self.joined_samples()
            write_wav(path, samples)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)  # type: ignore[attr-defined]
            return
        except OSError as e:
            err = describe_os_error(e, path)
            self.error.emit(err.message, err.remedy)  # type: ignore[attr-defined]
            return
        missing = [str(i + 1) for i, t in enumerate(takes) if t is None]
        self.status.emit(f"Saved {path} ({len(samples) / SAMPLE_RATE:.1f} s)"  # type: ignore[attr-defined]
                         + (f"; sentences {', '.join(missing)} have no take yet and are not in it" if missing else ""))
