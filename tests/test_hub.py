"""The download path for real: huggingface_hub talks to a local HTTP server that serves files the way the
Hub does (resolve URLs, X-Repo-Commit, ETag, Content-Length, Range)."""

import hashlib
import http.server
import threading
import time
from pathlib import Path

import pytest

from studio.errors import JobCancelled
from studio.hub import WeightsMissingError, cached_file, download_files, import_local

COMMIT = "a" * 40
FILES = {"config.json": b'{"d_model": 384}', "model.safetensors": bytes(range(256)) * 4096}  # 1 MiB


class _Hub(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str, str | None]] = []
    delay = 0.0
    repos: dict[str, dict[str, bytes]] = {"test/tiny": FILES}

    def log_message(self, *args: object) -> None:
        pass

    def _target(self) -> bytes | None:
        parts = self.path.split("/")  # /org/name/resolve/rev/file
        if len(parts) >= 6 and parts[3] == "resolve" and "/".join(parts[1:3]) in _Hub.repos:
            return _Hub.repos["/".join(parts[1:3])].get("/".join(parts[5:]))
        return None

    def _headers(self, body: bytes, status: int, start: int = 0) -> None:
        self.send_response(status)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802
        body = self._target()
        _Hub.requests.append(("HEAD", self.path, None))
        if body is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            return
        self._headers(body, 200)

    def do_GET(self) -> None:  # noqa: N802
        body = self._target()
        rng = self.headers.get("Range")
        _Hub.requests.append(("GET", self.path, rng))
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        self._headers(body, 206 if rng else 200, start)
        for i in range(start, len(body), 65536):
            try:
                self.wfile.write(body[i : i + 65536])
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(_Hub.delay)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _Hub.requests, _Hub.delay = [], 0.0
    yield tmp_path / "hf" / "hub"
    server.shutdown()


def test_downloads_with_progress_into_the_hf_cache_layout(hub: Path):
    seen = []
    paths = download_files("test/tiny", list(FILES), progress=seen.append)
    assert paths["model.safetensors"].read_bytes() == FILES["model.safetensors"]
    assert paths["config.json"].parent == hub / "models--test--tiny" / "snapshots" / COMMIT
    assert seen[-1].done == seen[-1].total == sum(map(len, FILES.values()))
    assert [p.done for p in seen] == sorted(p.done for p in seen) and len(seen) > 5
    # huggingface_hub itself finds the files, offline
    assert cached_file("test/tiny", "model.safetensors") == paths["model.safetensors"]


def test_second_call_uses_the_cache_and_works_offline(hub: Path, monkeypatch: pytest.MonkeyPatch):
    download_files("test/tiny", ["config.json"])
    gets = sum(r[0] == "GET" for r in _Hub.requests)
    download_files("test/tiny", ["config.json"])
    assert sum(r[0] == "GET" for r in _Hub.requests) == gets
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(_Hub.requests)
    assert download_files("test/tiny", ["config.json"])["config.json"].read_bytes() == FILES["config.json"]
    assert len(_Hub.requests) == n


def test_missing_weights_offline_say_what_to_download_and_where(hub: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as err:
        download_files("test/tiny", ["model.safetensors"])
    assert "offline" in err.value.message and "model.safetensors" in err.value.message
    assert "models--test--tiny" in err.value.remedy and "Import" in err.value.remedy


def test_unreachable_server_is_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(WeightsMissingError, match="could not be reached"):
        download_files("test/tiny", ["config.json"])


def test_unknown_file_is_named(hub: Path):
    with pytest.raises(WeightsMissingError, match="'nope.bin' was not found"):
        download_files("test/tiny", ["nope.bin"])


def test_cancel_keeps_the_partial_file_and_the_next_call_resumes_it(hub: Path):
    _Hub.delay = 0.02
    cancel = threading.Event()

    def progress(p):
        if p.done > 300_000:
            cancel.set()

    with pytest.raises(JobCancelled):
        download_files("test/tiny", ["model.safetensors"], progress=progress, cancel=cancel)
    partial = list((hub / "models--test--tiny" / "blobs").glob("*.incomplete"))
    assert len(partial) == 1 and 300_000 < partial[0].stat().st_size < len(FILES["model.safetensors"])
    have = partial[0].stat().st_size
    _Hub.delay = 0.0
    path = download_files("test/tiny", ["model.safetensors"])["model.safetensors"]
    assert path.read_bytes() == FILES["model.safetensors"]
    assert ("GET", "/test/tiny/resolve/" + COMMIT + "/model.safetensors", f"bytes={have}-") in _Hub.requests or \
        any(r[2] == f"bytes={have}-" for r in _Hub.requests)


def test_import_of_a_local_folder_copies_it(tmp_path: Path):
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "model.bin").write_bytes(b"weights")
    dest = import_local(src, "whisper-tiny", tmp_path / "models")
    assert (dest / "model.bin").read_bytes() == b"weights"
    with pytest.raises(WeightsMissingError, match="does not exist"):
        import_local(tmp_path / "nothing", "x", tmp_path / "models")


def test_whisper_downloads_from_the_hub_in_hugging_face_layout_and_transcribes(hub, data):
    """The whole first-use path: resolve, download with progress into the cache, load the HF layout, transcribe."""
    import json

    from safetensors.torch import save

    from studio.engine.asr.options import TranscribeOptions
    from studio.engine.asr.transcribe import Transcriber
    from studio.hub.whisper_weights import bundled_folder, hf_name_map, load_whisper

    bundled = load_whisper("tiny.en").model
    names = hf_name_map(bundled.dims)
    weights = save({names[k]: v.contiguous() for k, v in bundled.state_dict().items() if k in names})
    config = {"num_mel_bins": 80, "max_source_positions": 1500, "d_model": 384, "encoder_attention_heads": 6,
              "encoder_layers": 4, "vocab_size": 51864, "max_target_positions": 448, "decoder_attention_heads": 6,
              "decoder_layers": 4, "_name_or_path": "openai/whisper-tiny.en"}
    generation = {"alignment_heads": [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]}
    _Hub.repos["openai/whisper-tiny.en"] = {
        "config.json": json.dumps(config).encode(), "generation_config.json": json.dumps(generation).encode(),
        "tokenizer.json": (bundled_folder() / "tokenizer.json").read_bytes(), "model.safetensors": weights}
    seen = []
    ckpt = load_whisper("openai/whisper-tiny.en", progress=seen.append)
    assert ckpt.format == "hf" and ckpt.model.alignment_heads[2] == (2, 5)
    assert seen[-1].done == seen[-1].total >= len(weights) and any(p.filename == "model.safetensors" for p in seen)
    assert (hub / "models--openai--whisper-tiny.en" / "snapshots" / COMMIT / "model.safetensors").exists()
    text = Transcriber(ckpt).transcribe(data / "jfk.flac", TranscribeOptions(beam_size=1)).text
    assert "ask not what your country can do for you" in text.lower()
    # a second load is served from the cache, with no transfer
    _Hub.requests = []
    load_whisper("openai/whisper-tiny.en")
    assert not [r for r in _Hub.requests if r[0] == "GET"]
