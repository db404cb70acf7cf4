"""The round-trip check: what the transcriber hears in a take, word by word against what was asked for.

Cloning models skip words, say some twice, or speak words of the voice's own prompt ("leak"); marking them is
what lets a user regenerate just the sentence that went wrong.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

from studio.engine.clone.result import RoundTrip, WordMark

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def words(text: str) -> list[str]:
    """Words for comparison: lower case, punctuation dropped; Chinese and Japanese compared per character."""
    text = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for token in re.findall(r"[\w']+", text):
        if _CJK.search(token):
            out.extend(ch for ch in token if ch.strip())
        else:
            token = token.strip("'")
            if token:
                out.append(token)
    return out


def compare(asked: str, heard: str, prompt_text: str = "") -> RoundTrip:
    """Mark each asked word ok / skipped / changed, and each extra heard word repeated (it is a neighbour asked
    word said again), leaked (a word of the voice's prompt text) or extra (anything else)."""
    a, h = words(asked), words(heard)
    marks: list[WordMark] = []
    matcher = difflib.SequenceMatcher(a=a, b=h, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            marks += [WordMark(a[i], "ok", i) for i in range(i1, i2)]
        elif op == "delete":
            marks += [WordMark(a[i], "skipped", i) for i in range(i1, i2)]
        elif op == "replace":
            n = min(i2 - i1, j2 - j1)
            marks += [WordMark(a[i1 + k], "changed", i1 + k, h[j1 + k]) for k in range(n)]
            marks += [WordMark(a[i], "skipped", i) for i in range(i1 + n, i2)]
            marks += _extra(h[j1 + n:j2], a, i1, prompt_text)
        else:  # insert
            marks += _extra(h[j1:j2], a, i1, prompt_text)
    return RoundTrip(heard.strip(), marks)


def _extra(extra: list[str], asked: list[str], at: int, prompt_text: str) -> list[WordMark]:
    near = set(asked[max(0, at - 3):at + 3])
    prompt = set(words(prompt_text))
    return [WordMark(w, "repeated" if w in near else "leaked" if w in prompt else "extra", None) for w in extra]
