"""English text -> IPA the way VALL-E X's `english_to_ipa2` makes it (utils/g2p/english.py at 3faaf8c): unidecode,
lowercase, abbreviations, numbers in words (inflect), eng_to_ipa, dark l, then its ipa -> ipa2 table. The checkpoint
was trained on exactly this output, quirks included (an unknown word keeps its spelling plus '*')."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

from studio.engine.clone.g2p_deps import need

_ABBREVIATIONS = [(re.compile(rf"\b{short}\.", re.IGNORECASE), long) for short, long in [
    ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"), ("jr", "junior"),
    ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"), ("lt", "lieutenant"),
    ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"), ("esq", "esquire"), ("ltd", "limited"),
    ("col", "colonel"), ("ft", "fort"),
]]
# Words these end with a full stop that does not end a sentence (split_sentences reads it).
ABBREVIATIONS = frozenset(p.pattern[2:-2] for p, _ in _ABBREVIATIONS)

_IPA_TO_IPA2 = [("r", "ɹ"), ("ʤ", "dʒ"), ("ʧ", "tʃ")]

_COMMA_NUMBER = re.compile(r"([0-9][0-9,]+[0-9])")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_POUNDS = re.compile(r"£([0-9,]*[0-9]+)")  # never matches after unidecode ('£' -> 'PS'); kept as upstream has it
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")
_DARK_L = re.compile(r"l([^aeiouæɑɔəɛɪʊ ]*(?: |$))")
_DIGIT_NAMES = "zero one two three four five six seven eight nine".split()


@cache
def _inflect() -> Any:
    return need("inflect", "inflect", "English").engine()


def _words(num: str, **kw: Any) -> str:
    """inflect's number_to_words of a digit string (an ordinal like '2nd' too); a number it cannot say (over
    ~10^36, or too long for int()) is read digit by digit, where upstream crashes."""
    inflect = need("inflect", "inflect", "English")
    try:
        return _inflect().number_to_words(num if num[-1].isalpha() else int(num), **kw)
    except (ValueError, inflect.NumOutOfRangeError):
        digits = num.rstrip("stndrh")
        return " ".join([_DIGIT_NAMES[int(d)] for d in digits] + ([num[len(digits):]] if digits != num else []))


def _dollars(m: re.Match[str]) -> str:
    parts = [p.replace(",", "") for p in m.group(1).split(".")]  # a comma left here ('$,9') crashes upstream
    if len(parts) > 2 or max(map(len, parts)) > 1000:  # the second: too long for int(), read digit by digit later
        return m.group(1) + " dollars"
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    d_unit = "dollar" if dollars == 1 else "dollars"
    c_unit = "cent" if cents == 1 else "cents"
    if dollars and cents:
        return f"{dollars} {d_unit}, {cents} {c_unit}"
    if dollars:
        return f"{dollars} {d_unit}"
    if cents:
        return f"{cents} {c_unit}"
    return "zero dollars"


def _number(m: re.Match[str]) -> str:
    digits = m.group(0)
    num = int(digits) if len(digits) < 100 else None
    if num is not None and 1000 < num < 3000:  # years: "nineteen ninety-nine", "two thousand five"
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + _words(str(num % 100))
        if num % 100 == 0:
            return _words(str(num // 100)) + " hundred"
        return _words(digits, andword="", zero="oh", group=2).replace(", ", " ")
    return _words(digits, andword="")


_DIGITS = "zero one two three four five six seven eight nine".split()


def _decimal(m: re.Match[str]) -> str:
    """'3.05' -> '3 point zero five'. Upstream reads the digits after the point as a number ('3 point 05' ->
    'three point five', '3.14159' -> 'three point fourteen thousand…'), which changes the value spoken."""
    whole, frac = m.group(1).split(".", 1)
    return f"{whole} point {' '.join(_DIGITS[int(d)] for d in frac)}"


def normalize_numbers(text: str) -> str:
    text = _COMMA_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars, text)
    text = _DECIMAL.sub(_decimal, text)
    text = _ORDINAL.sub(lambda m: _words(m.group(0)), text)
    return _NUMBER.sub(_number, text)


def _latin_only(text: str, dropped: Callable[[str], None]) -> str:
    """Upstream transliterates everything with unidecode ('你好' -> 'ni hao', read as English) and silently loses
    what unidecode cannot spell (emoji). Here letters of other scripts are dropped (a space keeps words apart) and
    both kinds are reported; accented Latin still goes through unidecode ('café' -> 'cafe')."""
    unidecode = need("unidecode", "unidecode", "English").unidecode
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif unicodedata.category(ch).startswith("L") and not unicodedata.name(ch, "").startswith("LATIN"):
            dropped(ch)
            out.append(" ")
        else:
            spelled = unidecode(ch)
            if not spelled.strip() and not ch.isspace():
                dropped(ch)
            out.append(spelled)
    return "".join(out)


def english_to_ipa2(text: str, dropped: Callable[[str], None]) -> str:
    ipa = need("eng_to_ipa", "eng_to_ipa", "English")
    text = _latin_only(text, dropped).lower()
    for pattern, long in _ABBREVIATIONS:
        text = pattern.sub(long, text)
    text = normalize_numbers(text)
    phonemes = re.sub(r"\s+", " ", ipa.convert(text))
    phonemes = _DARK_L.sub(lambda m: "ɫ" + m.group(1), phonemes)
    for old, new in _IPA_TO_IPA2:
        phonemes = phonemes.replace(old, new)
    return phonemes.replace("...", "…")
