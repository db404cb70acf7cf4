"""Transcript files: plain text, SubRip, WebVTT and JSON (with words)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from studio.engine.asr.result import Transcript
from studio.outputs import write_text

FORMATS = ("txt", "srt", "vtt", "json")


def _clock(seconds: float, comma: bool) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{',' if comma else '.'}{ms:03d}"


def to_txt(t: Transcript, partial: str | None = None) -> str:
    return "".join(s.text.strip() + "\n" for s in t.segments) + (f"[{partial}]\n" if partial else "")


def _cues(t: Transcript) -> list[tuple[float, float, str]]:
    cues = []
    for s in t.segments:
        start, end = s.start, max(s.end, s.start + 0.001)
        if cues and start < cues[-1][1]:  # cues never overlap or go back
            start = cues[-1][1]
            end = max(end, start + 0.001)
        cues.append((start, end, s.text.strip().replace("-->", "->")))
    return cues


def to_srt(t: Transcript, partial: str | None = None) -> str:
    cues = _cues(t)
    if partial:  # SubRip has no comments: the note is a last one-second cue after the others
        at = cues[-1][1] if cues else 0.0
        cues.append((at, at + 1.0, f"[{partial}]"))
    return "\n".join(f"{i}\n{_clock(a, True)} --> {_clock(b, True)}\n{text}\n"
                     for i, (a, b, text) in enumerate(cues, start=1))


def to_vtt(t: Transcript, partial: str | None = None) -> str:
    note = f"NOTE {partial}\n\n" if partial else ""  # a WebVTT comment block, which players do not show
    return "WEBVTT\n\n" + note + "\n".join(f"{_clock(a, False)} --> {_clock(b, False)}\n{text}\n"
                                           for a, b, text in _cues(t))


def to_json(t: Transcript, partial: str | None = None) -> str:
    data = asdict(t)
    data["text"] = t.text
    if partial:
        data["partial"] = True
        data["partial_note"] = partial
    return json.dumps(data, ensure_ascii=False, indent=2)


def partial_note(t: Transcript) -> str:
    """What a transcript cut short says about itself, e.g. 'partial transcript: stopped at 0:12:04 of 1:30:00'."""
    done = t.segments[-1].end if t.segments else 0.0
    return f"partial transcript: stopped at {_clock(done, False)[:-4]} of {_clock(t.duration, False)[:-4]}"


def render(t: Transcript, fmt: str, partial: bool = False) -> str:
    """The file's text; `partial` marks a transcript that was interrupted (a last line in txt, a cue in srt, a
    NOTE in vtt, `"partial": true` in json)."""
    note = partial_note(t) if partial else None
    return {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json}[fmt](t, note)


def write(t: Transcript, fmt: str, path: str | os.PathLike, partial: bool = False) -> Path:
    """Write atomically: a crash or a full disk never leaves half a file in place of a good one (StudioError)."""
    return write_text(path, render(t, fmt, partial))
