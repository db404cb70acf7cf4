"""Voice cloning end to end on small random weights, through the worker: text -> phoneme ids -> AR -> NAR -> codec
-> 24 kHz audio; progress, cancel in the middle of the AR, sentence planning, the round-trip comparison."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from studio.engine.clone.plan import budget_ids, plan_sentences
from studio.engine.clone.result import FRAME_RATE, SAMPLE_RATE, Settings, Synthesis
from studio.engine.clone.roundtrip import compare, words
from studio.errors import StudioError
from studio.models.valle import ValleConfig
from studio.worker.thread import Worker

DATA = Path(__file__).parent / "data"
SMALL = ValleConfig(d_model=64, n_head=4, n_layer=2)



def run(worker: Worker, fn, *args, timeout: float = 120, cancel_when=None, **kwargs):  # noqa: ANN001, ANN201
    """Submit and wait; returns ("result" | "error" | "cancelled", payload, progress messages)."""
    done = threading.Event()
    out: dict = {"messages": []}

    def progress(job_id: int, fraction: float, message: str) -> None:
        out["messages"].append((fraction, message))
        if cancel_when is not None and cancel_when(fraction, message):
            worker.cancel(job_id)

    worker.on_progress = progress
    worker.on_result = lambda _id, r: (out.update(kind="result", payload=r), done.set())
    worker.on_error = lambda _id, e: (out.update(kind="error", payload=e), done.set())
    worker.on_cancelled = lambda _id, p: (out.update(kind="cancelled", payload=p), done.set())
    worker.submit(fn, *args, **kwargs)
    assert done.wait(timeout), "the job did not finish"
    return out["kind"], out["payload"], out["messages"]


@pytest.fixture
def worker() -> Worker:
    w = Worker("cpu")
    yield w
    w.shutdown()


def test_text_to_waveform_through_the_worker(worker: Worker, small_models: tuple[str, str]) -> None:
    from studio.engine.clone.synthesis_jobs import synthesize_job

    valle, codec = small_models
    voice = str(DATA / "vallex-preset-librispeech_1.npz")
    takes = []
    kind, result, messages = run(worker, synthesize_job, voice, ["Hello there.", "How are you today?"], "en",
                                 Settings(seed=3, top_k=50), model=valle, codec=codec, check_words=False,
                                 on_take=takes.append)
    assert kind == "result", result
    assert isinstance(result, Synthesis) and len(result.takes) == 2 and takes == result.takes
    for i, take in enumerate(result.takes):
        n = take.codes.shape[1]
        assert take.codes.shape == (8, n) and n > 0
        assert len(take.samples) == n * SAMPLE_RATE // FRAME_RATE  # 320 samples per frame
        assert take.samples.dtype == np.float32 and np.isfinite(take.samples).all()
        # its log-mel is made with it (in the model process), 10 ms columns, so the view only draws it
        assert take.mel.shape == (80, 1 + len(take.samples) // 240) and np.isfinite(take.mel).all()
        assert take.settings.seed == 3 + i and take.stopped in ("end", "cap")
        assert take.attention is not None and take.attention.shape == (SMALL.n_layer, n, 58 + len(take.text_ids))
        np.testing.assert_allclose(take.attention_mean, take.attention.astype(np.float32).mean(axis=0), rtol=1e-6)
        assert take.n_prompt_ids == 58 and take.device.startswith("cpu (") and "GB in use" in take.device
    assert result.prompt_codes.shape == (8, 225)
    joined = result.joined()
    assert len(joined) == sum(len(t.samples) for t in result.takes) + int(0.25 * SAMPLE_RATE)
    fractions = [f for f, _ in messages]
    assert any("frame" in m for _, m in messages) and any("codebook 8 of 8" in m for _, m in messages)
    assert fractions[-1] > 0.9

    # the same seed gives the same take; redoing sentence 2 alone with another seed leaves sentence 1 as it was
    kind, again, _ = run(worker, synthesize_job, voice, ["How are you today?"], "en", Settings(seed=3, top_k=50),
                         model=valle, codec=codec, check_words=False, first_index=1)
    assert np.array_equal(again.takes[0].codes, result.takes[1].codes) and again.takes[0].index == 1
    kind, other, _ = run(worker, synthesize_job, voice, ["How are you today?"], "en", Settings(seed=3, top_k=50),
                         model=valle, codec=codec, check_words=False, first_index=1, seeds=[99])
    assert other.takes[0].settings.seed == 99 and not np.array_equal(other.takes[0].codes, result.takes[1].codes)


def test_cancel_in_the_middle_of_the_ar(worker: Worker, small_models: tuple[str, str]) -> None:
    from studio.engine.clone.synthesis_jobs import synthesize_job

    valle, codec = small_models
    kind, payload, messages = run(worker, synthesize_job, str(DATA / "vallex-preset-librispeech_1.npz"),
                                  ["A sentence long enough to take a good number of frames to say."], "en",
                                  Settings(seed=1), model=valle, codec=codec, check_words=False,
                                  cancel_when=lambda f, m: "frame" in m)
    assert kind == "cancelled"
    assert not any("codebook" in m for _, m in messages)  # stopped before the NAR


def test_missing_weights_offline_say_what_and_how(worker: Worker, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.engine.clone.synthesis_jobs import synthesize_job

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    kind, report, _ = run(worker, synthesize_job, str(DATA / "vallex-preset-librispeech_1.npz"), ["Hi."], "en",
                          Settings(), cache_dir=str(tmp_path), check_words=False)
    assert kind == "error"
    text = f"{report.message} {report.remedy}"
    assert "vallex-checkpoint.pt" in text and "Import local weights" in text


def test_sentence_plan_fits_the_clip_budget() -> None:
    from studio.engine.clone.phonemes import text_to_ids

    text = ("The quick brown fox jumps over the lazy dog. " * 3 + "This one is long, with clauses, commas and more "
            "words than any prompt leaves room for, so that it must be split again, piece by piece, until each "
            "part fits the budget that is left after a long prompt. Short one.")
    pieces = plan_sentences(text, "en", prompt_seconds=14.0)
    limit = budget_ids(14.0)
    assert len(pieces) >= 5
    assert all(len(text_to_ids(p, "en").ids) <= limit for p in pieces)
    assert words(" ".join(pieces)) == words(text)
    with pytest.raises(StudioError):
        plan_sentences("  \n ", "en", 3.0)


def test_round_trip_marks_skipped_repeated_leaked_and_changed_words() -> None:
    rt = compare("The cat sat on the mat.", "the cat cat sat on a mat hello", prompt_text="Hello, said the voice.")
    kinds = [(m.word, m.kind) for m in rt.marks]
    assert ("cat", "repeated") in kinds and ("hello", "leaked") in kinds and ("the", "changed") in kinds
    rt = compare("One two three four.", "one four")
    assert [m.word for m in rt.problems] == ["two", "three"] and {m.kind for m in rt.problems} == {"skipped"}
    assert rt.word_error_rate == pytest.approx(0.5)
    assert compare("Hello, world!", "hello world").problems == []
    assert compare("你好世界", "你好").problems[0].kind == "skipped"



def test_each_take_is_transcribed_back_with_the_bundled_model(worker: Worker, small_models: tuple[str, str]) -> None:
    from studio.engine.clone.synthesis_jobs import synthesize_job

    valle, codec = small_models
    kind, result, messages = run(worker, synthesize_job, str(DATA / "vallex-preset-librispeech_1.npz"),
                                 ["Good morning."], "en", Settings(seed=2), model=valle, codec=codec)
    assert kind == "result", result
    rt = result.takes[0].round_trip
    assert rt is not None and any("listening back" in m for _, m in messages)
    # random weights speak no words: every asked word is missing or changed, none is marked ok by accident
    assert {m.asked_index for m in rt.marks if m.asked_index is not None} == {0, 1}
    assert all(m.kind != "ok" for m in rt.marks) or rt.heard


def test_an_empty_take_is_retried_with_other_seeds() -> None:
    from studio.engine.clone.result import EmptyTake
    from studio.engine.clone.synthesis_jobs import RETRY_SEED_STEP, _take_with_retries

    class Flaky:
        def __init__(self, fails: int) -> None:
            self.fails, self.seeds = fails, []

        def take(self, voice, sentence, language, settings, index, progress, check):  # noqa: ANN001, ANN201
            self.seeds.append(settings.seed)
            if len(self.seeds) <= self.fails:
                raise EmptyTake("ended at once", "")
            return settings.seed

    flaky = Flaky(2)
    assert _take_with_retries(flaky, None, "Hi.", "en", Settings(seed=5), 0, lambda f, m: None, lambda: None) == (
        5 + 2 * RETRY_SEED_STEP)
    with pytest.raises(EmptyTake):
        _take_with_retries(Flaky(3), None, "Hi.", "en", Settings(seed=5), 0, lambda f, m: None, lambda: None)


def test_a_cancel_while_listening_back_keeps_the_take_unchecked(worker: Worker, small_models: tuple[str, str]) -> None:
    from studio.engine.clone.synthesis_jobs import synthesize_job

    valle, codec = small_models
    takes = []
    kind, _, _ = run(worker, synthesize_job, str(DATA / "vallex-preset-librispeech_1.npz"), ["Good morning.", "Bye."],
                     "en", Settings(seed=2), model=valle, codec=codec, on_take=takes.append,
                     cancel_when=lambda f, m: "listening back" in m)
    assert kind == "cancelled"
    assert len(takes) == 1 and takes[0].round_trip is None and "stopped" in takes[0].check_skipped
