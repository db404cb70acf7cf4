"""Benchmark speech that never repeats, built deterministically at run time (no audio is committed).

tests/data holds only 17.7 s of distinct real English speech (jfk.flac 11.0 s, vallex-en-1.wav 6.7 s;
encodec-test_24k.wav is not English speech: Whisper finds no words in it). So a corpus is: those two clips once,
then espeak-ng reading the US Declaration of Independence (and, past six minutes, the Gettysburg Address, the
Constitution's opening and Lincoln's close of 1865: all public domain), one passage per voice, the voice,
speed, pitch and loudness changing from passage to passage, with short pauses, over a constant noise floor (the
file is never digitally silent). The reference text (what was read, and jfk's known words) is kept for WER;
vallex-en-1 has no published transcript, so its span is a wildcard in `wer`.

    corpus(300)          ~5 minutes, 16 kHz      corpus(90)  ~90 s, 16 kHz (the same start, fewer passages)
    corpus(90, 24000)    the same speech at 24 kHz (the codec benchmark cuts 30 s from it)
    corpus(600, 24000)   ten minutes at 24 kHz (the UI stall benchmark's codec analysis)

Files go to $VOICE_STUDIO_BENCH_CACHE (default ~/.cache/voice-studio-bench), named by a hash of everything that
shapes them: a second call returns the cached file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CACHE = Path(os.environ.get("VOICE_STUDIO_BENCH_CACHE", Path.home() / ".cache" / "voice-studio-bench"))
VERSION = 1  # bump when the construction changes
WILDCARD = "<unscored>"

REAL = [  # (file, reference text or None when no transcript is published)
    ("jfk.flac", "And so my fellow Americans, ask not what your country can do for you, "
                 "ask what you can do for your country."),
    ("vallex-en-1.wav", None),
]

# The Declaration of Independence (1776), in reading order; one passage per espeak-ng voice (in turn).
PASSAGES = [
    "When in the Course of human events, it becomes necessary for one people to dissolve the political bands which "
    "have connected them with another, and to assume among the powers of the earth, the separate and equal station "
    "to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of mankind "
    "requires that they should declare the causes which impel them to the separation.",
    "We hold these truths to be self-evident, that all men are created equal, that they are endowed by their "
    "Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness.",
    "That to secure these rights, Governments are instituted among Men, deriving their just powers from the consent "
    "of the governed. That whenever any Form of Government becomes destructive of these ends, it is the Right of "
    "the People to alter or to abolish it, and to institute new Government, laying its foundation on such "
    "principles and organizing its powers in such form, as to them shall seem most likely to effect their Safety "
    "and Happiness.",
    "Prudence, indeed, will dictate that Governments long established should not be changed for light and "
    "transient causes; and accordingly all experience hath shewn, that mankind are more disposed to suffer, while "
    "evils are sufferable, than to right themselves by abolishing the forms to which they are accustomed.",
    "But when a long train of abuses and usurpations, pursuing invariably the same Object evinces a design to "
    "reduce them under absolute Despotism, it is their right, it is their duty, to throw off such Government, and "
    "to provide new Guards for their future security.",
    "Such has been the patient sufferance of these Colonies; and such is now the necessity which constrains them to "
    "alter their former Systems of Government. The history of the present King of Great Britain is a history of "
    "repeated injuries and usurpations, all having in direct object the establishment of an absolute Tyranny over "
    "these States. To prove this, let Facts be submitted to a candid world.",
    "He has refused his Assent to Laws, the most wholesome and necessary for the public good. He has forbidden his "
    "Governors to pass Laws of immediate and pressing importance, unless suspended in their operation till his "
    "Assent should be obtained; and when so suspended, he has utterly neglected to attend to them.",
    "He has refused to pass other Laws for the accommodation of large districts of people, unless those people "
    "would relinquish the right of Representation in the Legislature, a right inestimable to them and formidable "
    "to tyrants only.",
    "He has called together legislative bodies at places unusual, uncomfortable, and distant from the depository "
    "of their public Records, for the sole purpose of fatiguing them into compliance with his measures. He has "
    "dissolved Representative Houses repeatedly, for opposing with manly firmness his invasions on the rights of "
    "the people.",
    "He has refused for a long time, after such dissolutions, to cause others to be elected; whereby the "
    "Legislative powers, incapable of Annihilation, have returned to the People at large for their exercise; the "
    "State remaining in the mean time exposed to all the dangers of invasion from without, and convulsions within.",
    "He has endeavoured to prevent the population of these States; for that purpose obstructing the Laws for "
    "Naturalization of Foreigners; refusing to pass others to encourage their migrations hither, and raising the "
    "conditions of new Appropriations of Lands.",
    "He has obstructed the Administration of Justice, by refusing his Assent to Laws for establishing Judiciary "
    "powers. He has made Judges dependent on his Will alone, for the tenure of their offices, and the amount and "
    "payment of their salaries.",
    "He has erected a multitude of New Offices, and sent hither swarms of Officers to harass our people, and eat "
    "out their substance. He has kept among us, in times of peace, Standing Armies without the Consent of our "
    "legislatures. He has affected to render the Military independent of and superior to the Civil power.",
    "He has combined with others to subject us to a jurisdiction foreign to our constitution, and unacknowledged by "
    "our laws; giving his Assent to their Acts of pretended Legislation: For Quartering large bodies of armed "
    "troops among us: For protecting them, by a mock Trial, from punishment for any Murders which they should "
    "commit on the Inhabitants of these States:",
    "For cutting off our Trade with all parts of the world: For imposing Taxes on us without our Consent: For "
    "depriving us in many cases, of the benefits of Trial by Jury: For transporting us beyond Seas to be tried for "
    "pretended offences:",
    "For abolishing the free System of English Laws in a neighbouring Province, establishing therein an Arbitrary "
    "government, and enlarging its Boundaries so as to render it at once an example and fit instrument for "
    "introducing the same absolute rule into these Colonies:",
    "For taking away our Charters, abolishing our most valuable Laws, and altering fundamentally the Forms of our "
    "Governments: For suspending our own Legislatures, and declaring themselves invested with power to legislate "
    "for us in all cases whatsoever.",
    "He has abdicated Government here, by declaring us out of his Protection and waging War against us. He has "
    "plundered our seas, ravaged our Coasts, burnt our towns, and destroyed the lives of our people.",
    "In every stage of these Oppressions We have Petitioned for Redress in the most humble terms: Our repeated "
    "Petitions have been answered only by repeated injury. A Prince whose character is thus marked by every act "
    "which may define a Tyrant, is unfit to be the ruler of a free people.",
    # then, for files past six minutes (the codec's ten-minute file), more public-domain American texts: the
    # Gettysburg Address (1863), the Constitution's Preamble and Article I, sections 1 to 3 (1787, modern spelling),
    # and the close of Lincoln's Second Inaugural Address (1865)
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in "
    "Liberty, and dedicated to the proposition that all men are created equal. Now we are engaged in a great civil "
    "war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on "
    "a great battle-field of that war. We have come to dedicate a portion of that field, as a final resting place "
    "for those who here gave their lives that that nation might live. It is altogether fitting and proper that we "
    "should do this.",
    "But, in a larger sense, we can not dedicate, we can not consecrate, we can not hallow this ground. The brave "
    "men, living and dead, who struggled here, have consecrated it, far above our poor power to add or detract. The "
    "world will little note, nor long remember what we say here, but it can never forget what they did here.",
    "It is for us the living, rather, to be dedicated here to the unfinished work which they who fought here have "
    "thus far so nobly advanced. It is rather for us to be here dedicated to the great task remaining before us, "
    "that from these honored dead we take increased devotion to that cause for which they gave the last full "
    "measure of devotion, that we here highly resolve that these dead shall not have died in vain, that this "
    "nation, under God, shall have a new birth of freedom, and that government of the people, by the people, for "
    "the people, shall not perish from the earth.",
    "We the People of the United States, in Order to form a more perfect Union, establish Justice, insure domestic "
    "Tranquility, provide for the common defence, promote the general Welfare, and secure the Blessings of Liberty "
    "to ourselves and our Posterity, do ordain and establish this Constitution for the United States of America. "
    "All legislative Powers herein granted shall be vested in a Congress of the United States, which shall consist "
    "of a Senate and House of Representatives.",
    "The House of Representatives shall be composed of Members chosen every second Year by the People of the "
    "several States, and the Electors in each State shall have the Qualifications requisite for Electors of the "
    "most numerous Branch of the State Legislature. No Person shall be a Representative who shall not have attained "
    "to the Age of twenty five Years, and been seven Years a Citizen of the United States, and who shall not, when "
    "elected, be an Inhabitant of that State in which he shall be chosen.",
    "The actual Enumeration shall be made within three Years after the first Meeting of the Congress of the United "
    "States, and within every subsequent Term of ten Years, in such Manner as they shall by Law direct. When "
    "vacancies happen in the Representation from any State, the Executive Authority thereof shall issue Writs of "
    "Election to fill such Vacancies. The House of Representatives shall choose their Speaker and other Officers; "
    "and shall have the sole Power of Impeachment.",
    "The Senate of the United States shall be composed of two Senators from each State, chosen by the Legislature "
    "thereof, for six Years; and each Senator shall have one Vote. No Person shall be a Senator who shall not have "
    "attained to the Age of thirty Years, and been nine Years a Citizen of the United States, and who shall not, "
    "when elected, be an Inhabitant of that State for which he shall be chosen.",
    "The Vice President of the United States shall be President of the Senate, but shall have no Vote, unless they "
    "be equally divided. The Senate shall choose their other Officers, and also a President pro tempore, in the "
    "Absence of the Vice President, or when he shall exercise the Office of President of the United States. The "
    "Senate shall have the sole Power to try all Impeachments.",
    "With malice toward none, with charity for all, with firmness in the right as God gives us to see the right, "
    "let us strive on to finish the work we are in, to bind up the nation's wounds, to care for him who shall have "
    "borne the battle and for his widow and his orphan, to do all which may achieve and cherish a just and lasting "
    "peace among ourselves and with all nations.",
]

VOICES = ["en-us", "en-gb", "en-us+f2", "en-gb-scotland", "en-us+m3", "en-gb-x-rp+f4", "en-029", "en-us-nyc+m1",
          "en-gb-x-gbcwmd", "en-us+f1", "en-gb-x-gbclan+m7", "en-gb+f3"]
NOISE_DBFS = -50.0  # RMS of the white noise under the whole file


@dataclass
class Corpus:
    path: Path
    reference: str  # what is spoken, in order; WILDCARD where no transcript exists
    duration: float
    real_seconds: float  # real recordings
    synthetic_seconds: float  # espeak-ng speech
    passages: int
    voices: int

    def source(self) -> str:
        first = PASSAGES.index(next(t for t in PASSAGES if t.startswith("Four score")))
        return ("the Declaration of Independence" if self.passages <= first else
                "the Declaration of Independence, the Gettysburg Address, the Constitution and Lincoln's 1865 close")

    def describe(self) -> str:
        pauses = self.duration - self.real_seconds - self.synthetic_seconds
        return (f"{self.path.name}: {self.duration:.1f} s of speech that never repeats = "
                f"{self.real_seconds:.1f} s real (jfk.flac, vallex-en-1.wav) + {self.synthetic_seconds:.1f} s "
                f"espeak-ng ({self.passages} passages of {self.source()}, {self.voices} voices, "
                f"145-185 words/min) + {pauses:.1f} s pauses; white noise at {NOISE_DBFS:.0f} dBFS throughout; "
                f"{len(self.reference.replace(WILDCARD, '').split())} reference words")


def _espeak_version() -> str:
    return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout.strip()


def _speak(text: str, voice: str, speed: int, pitch: int, rate: int) -> np.ndarray:
    from studio.audio.io import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "p.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
                       check=True, capture_output=True)
        x = load_audio(wav, rate)
    nz = np.flatnonzero(np.abs(x) > 1e-3)  # trim espeak's own leading and trailing silence
    return x[nz[0]: nz[-1] + 1] if len(nz) else x


def corpus(max_seconds: float = 300.0, rate: int = 16000) -> Corpus:
    """The real clips, then passages while the total stays within `max_seconds` (16-bit WAV at `rate`)."""
    sources = hashlib.sha256()
    for name, _ in REAL:
        sources.update((DATA / name).read_bytes())
    key = hashlib.sha256(json.dumps([VERSION, max_seconds, rate, PASSAGES, VOICES, NOISE_DBFS, _espeak_version(),
                                     sources.hexdigest()]).encode()).hexdigest()[:12]
    folder = CACHE / f"corpus-{round(max_seconds)}s-{rate // 1000}k-{key}"
    meta = folder / "corpus.json"
    if meta.exists():
        m = json.loads(meta.read_text())
        return Corpus(path=folder / m.pop("file"), **m)

    from studio.audio.io import load_audio

    rng = np.random.default_rng(20240704)
    pieces: list[np.ndarray] = []
    words: list[str] = []
    real = synthetic = 0.0
    total = 0

    def pause() -> np.ndarray:
        return np.zeros(int(rng.uniform(0.5, 1.2) * rate), np.float32)

    def level(x: np.ndarray, dbfs: float) -> np.ndarray:
        return x * (10 ** (dbfs / 20) / max(1e-9, float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))))

    for name, text in REAL:
        x = load_audio(DATA / name, rate)
        pieces += [x, pause()]
        words.append(text if text is not None else WILDCARD)
        real += len(x) / rate
    total = sum(len(p) for p in pieces)
    n = 0
    voices_used = set()
    for i, text in enumerate(PASSAGES):
        voice = VOICES[i % len(VOICES)]
        x = _speak(text, voice, int(rng.integers(145, 186)), int(rng.integers(35, 66)), rate)
        x = level(x, rng.uniform(-26, -18)).astype(np.float32)
        p = pause()
        if (total + len(x)) / rate > max_seconds:
            break
        pieces += [x, p]
        total += len(x) + len(p)
        words.append(text)
        synthetic += len(x) / rate
        voices_used.add(voice)
        n += 1
    audio = np.concatenate(pieces)
    audio = audio[: int(max_seconds * rate)]
    audio = audio + rng.normal(0, 10 ** (NOISE_DBFS / 20), len(audio)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"speech-{round(max_seconds)}s-{rate // 1000}k.wav"
    sf.write(path, np.clip(audio, -1, 1), rate, subtype="PCM_16")
    c = Corpus(path, " ".join(words), len(audio) / rate, real, synthetic, n, len(voices_used))
    meta.write_text(json.dumps({"file": path.name, "reference": c.reference, "duration": c.duration,
                                "real_seconds": real, "synthetic_seconds": synthetic, "passages": n,
                                "voices": len(voices_used)}))
    return c


def cut(c: Corpus, seconds: float) -> Path:
    """The first `seconds` of a corpus file (for the codec: no text needed), cached beside it."""
    out = c.path.with_name(f"{c.path.stem}-first{seconds:g}s.wav")
    if not out.exists():
        info = sf.info(c.path)
        x, rate = sf.read(c.path, frames=int(seconds * info.samplerate), dtype="int16")
        sf.write(out, x, rate, subtype="PCM_16")
    return out


# ---- word error rate ------------------------------------------------------------------------------------------

def normalize(text: str) -> list[str]:
    """openai-whisper's English normaliser when available (spelling, numbers, fillers), else lower-case words."""
    try:
        from whisper.normalizers import EnglishTextNormalizer

        return EnglishTextNormalizer()(text).split()
    except ImportError:
        return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


def reference_tokens(reference: str) -> list[str | None]:
    """Normalised reference words; None for a WILDCARD span."""
    ref: list[str | None] = []
    for i, part in enumerate(reference.split(WILDCARD)):
        if i:
            ref.append(None)
        ref += normalize(part)
    return ref


def align(reference: str, hyp: list[str]) -> tuple[dict[str, int], list[str]]:
    """Levenshtein alignment of normalised hypothesis words to the reference. Returns the counts (correct,
    substituted, deleted, inserted, reference words) and each hypothesis word's fate: "ok", "sub", "ins", or "free"
    (inside a WILDCARD span, which absorbs any run of words at no cost)."""
    ref = reference_tokens(reference)
    n, m = len(ref), len(hyp)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[str]] = [[""] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0
    for j in range(1, m + 1):
        cost[0][j], back[0][j] = j, "ins"
    for i in range(1, n + 1):
        r = ref[i - 1]
        row, prev = cost[i], cost[i - 1]
        for j in range(m + 1):
            if r is None:  # wildcard: skip it, or let it swallow hypothesis word j
                best, how = prev[j], "skip"
                if j and row[j - 1] < best:
                    best, how = row[j - 1], "free"
            else:
                best, how = prev[j] + 1, "del"
                if j:
                    diag = prev[j - 1] + (0 if hyp[j - 1] == r else 1)
                    if diag <= best:
                        best, how = diag, "ok" if hyp[j - 1] == r else "sub"
                    if row[j - 1] + 1 < best:
                        best, how = row[j - 1] + 1, "ins"
            row[j], back[i][j] = best, how
    counts = {"ok": 0, "sub": 0, "del": 0, "ins": 0, "ref": sum(r is not None for r in ref)}
    fate = [""] * m
    i, j = n, m
    while i or j:
        how = back[i][j]
        if how in ("ok", "sub"):
            counts[how] += 1
            fate[j - 1] = how
            i, j = i - 1, j - 1
        elif how in ("del", "skip"):
            counts["del"] += how == "del"
            i -= 1
        else:  # "ins" or "free"
            counts["ins"] += how == "ins"
            fate[j - 1] = how
            j -= 1
    return counts, fate


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate in %: (substitutions + deletions + insertions) / reference words, after normalising both.
    A WILDCARD in the reference matches any run of hypothesis words (or none) at no cost: the span of a clip
    without a transcript."""
    c, _ = align(reference, normalize(hypothesis))
    return 100.0 * (c["sub"] + c["del"] + c["ins"]) / max(1, c["ref"])


if __name__ == "__main__":
    for seconds, rate in ((90, 16000), (300, 16000), (90, 24000)):
        print(corpus(seconds, rate).describe())
