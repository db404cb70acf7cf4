"""Transcript files: plain text, SubRip, WebVTT and JSON (with words)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from studio.engine.asr.result import Transcript

FORMATS = ("txt", "srt", "vtt", "json")


def _clock(seconds: float, comma: bool) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{',' if comma else '.'}{ms:03d}"


def to_txt(t: Transcript) -> str:
    return "".join(s.text.strip() + "\n" for s in t.segments)


def _cues(t: Transcript) -> list[tuple[float, float, str]]:
    cues = []
    for s in t.segments:
        start, end = s.start, max(s.end, s.start + 0.001)
        if cues and start < cues[-1][1]:  # cues never overlap or go back
            start = cues[-1][1]
            end = max(end, start + 0.001)
        cues.append((start, end, s.text.strip().replace("-->", "->")))
    return cues


def to_srt(t: Transcript) -> str:
    return "\n".join(f"{i}\n{_clock(a, True)} --> {_clock(b, True)}\n{text}\n"
                     for i, (a, b, text) in enumerate(_cues(t), start=1))


def to_vtt(t: Transcript) -> str:
    return "WEBVTT\n\n" + "\n".join(f"{_clock(a, False)} --> {_clock(b, False)}\n{text}\n"
                                    for a, b, text in _cues(t))


def to_json(t: Transcript) -> str:
    data = asdict(t)
    data["text"] = t.text
    return json.dumps(data, ensure_ascii=False, indent=2)


def render(t: Transcript, fmt: str) -> str:
    return {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json}[fmt](t)


def write(t: Transcript, fmt: str, path: str | os.PathLike) -> Path:
    """Write atomically: a crash mid-write never leaves half a file in place of a good one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(render(t, fmt), encoding="utf-8")
    os.replace(tmp, path)
    return path
